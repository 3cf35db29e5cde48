-- relfilenodes.sql: the file node of every user table and partition, to notice a TRUNCATE or a
-- table rewrite (which give the table a new relfilenode) between two reads of the catalog.
-- params: none
-- columns: root (the table itself, or for a partition the partitioned table at the top of its
--          tree), oid, relfilenode
SELECT COALESCE(pg_catalog.pg_partition_root(c.oid), c.oid)::int8 AS root,
       c.oid::int8 AS oid,
       c.relfilenode::int8 AS relfilenode
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_toast%'
   AND n.nspname NOT LIKE 'pg\_temp\_%'
 ORDER BY c.oid;
