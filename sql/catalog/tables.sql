-- tables.sql: every user table of the database; a partitioned table is one unit and its
-- partitions are not listed (COPY from the parent reads them). Tables owned by extensions and
-- system schemas are left out.
-- params: none
-- columns: oid, schema, name, kind ('r' table, 'p' partitioned), rls_enabled, rls_forced,
--          is_owner (the current role owns the table or is a member of its owner),
--          has_inheritors (other tables inherit from it, INHERITS or partitions)
SELECT c.oid::int8 AS oid,
       n.nspname AS schema,
       c.relname AS name,
       c.relkind::text AS kind,
       c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced,
       pg_catalog.pg_has_role(c.relowner, 'USAGE') AS is_owner,
       EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid) AS has_inheritors
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND NOT c.relispartition
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%'
   AND n.nspname NOT LIKE 'pg\_temp\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY n.nspname, c.relname;
