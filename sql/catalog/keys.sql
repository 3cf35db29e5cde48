-- keys.sql: primary keys and unique keys (constraints and plain unique indexes) that can
-- identify a row: not partial, no expressions.
-- params: none
-- columns: table_oid, name (index name), is_primary, columns (text[] in key order)
SELECT i.indrelid::int8 AS table_oid,
       ic.relname AS name,
       i.indisprimary AS is_primary,
       ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
              ORDER BY k.ord)::text[] AS columns
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid
 WHERE i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
   AND tc.relkind IN ('r', 'p') AND NOT tc.relispartition
   AND NOT (0 = ANY (i.indkey::int2[]))
 ORDER BY i.indrelid, i.indisprimary DESC, ic.relname;
