-- foreign-keys.sql: foreign keys between tables. A key declared on a table counts as is (the
-- clones PostgreSQL keeps on partitions are left out). Keys declared separately on partitions
-- (pagila's payment: on every partition but an empty one) are lifted to the partitioned table as
-- one key: the planner uses keys as ownership paths, and a row whose parent is missing simply
-- belongs to no tenant.
-- params: none
-- columns: name, table_oid, columns (text[]), ref_table_oid, ref_columns (text[]),
--          on_delete (a no action, r restrict, c cascade, n set null, d set default),
--          on_update (same letters), deferrable
WITH fk AS (
  SELECT c.conname, c.conrelid, c.confrelid, c.confdeltype, c.confupdtype, c.condeferrable,
         r.relispartition AS on_partition,
         pg_catalog.pg_partition_root(c.conrelid) AS root,
         ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(num, ord)
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num
                ORDER BY k.ord)::text[] AS columns,
         ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(num, ord)
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num
                ORDER BY k.ord)::text[] AS ref_columns
    FROM pg_catalog.pg_constraint c
    JOIN pg_catalog.pg_class r ON r.oid = c.conrelid
   WHERE c.contype = 'f' AND c.conparentid = 0
)
SELECT conname AS name, conrelid::int8 AS table_oid, columns, confrelid::int8 AS ref_table_oid,
       ref_columns, confdeltype::text AS on_delete, confupdtype::text AS on_update,
       condeferrable AS deferrable
  FROM fk
 WHERE NOT on_partition
UNION ALL
SELECT min(conname::text), root::int8, columns, confrelid::int8, ref_columns, confdeltype::text,
       confupdtype::text, bool_and(condeferrable)
  FROM fk
 WHERE on_partition
 GROUP BY root, columns, confrelid, ref_columns, confdeltype, confupdtype
 ORDER BY 2, 1;
