-- sequences.sql: sequences that feed a table column: owned ones (serial, identity) and the
-- ones named in a column default (nextval('...')), which pg_dump-loaded schemas often use.
-- params: none
-- columns: table_oid, column_name, schema, name
SELECT DISTINCT t.table_oid::int8 AS table_oid, a.attname AS column_name, n.nspname AS schema, s.relname AS name
  FROM (SELECT d.refobjid AS table_oid, d.refobjsubid AS attnum, d.objid AS seq_oid
          FROM pg_catalog.pg_depend d
         WHERE d.classid = 'pg_catalog.pg_class'::regclass
           AND d.refclassid = 'pg_catalog.pg_class'::regclass
           AND d.deptype IN ('a', 'i')
        UNION
        SELECT ad.adrelid, ad.adnum, d.refobjid
          FROM pg_catalog.pg_attrdef ad
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::regclass
                                     AND d.objid = ad.oid
                                     AND d.refclassid = 'pg_catalog.pg_class'::regclass
       ) t
  JOIN pg_catalog.pg_class s ON s.oid = t.seq_oid AND s.relkind = 'S'
  JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = t.table_oid AND a.attnum = t.attnum
 ORDER BY 1, 2;
