-- indexes.sql: the key columns of every valid, non-partial index of user tables, so doctor can
-- tell whether a tenant filter (or a foreign-key join) can use an index.
-- params: none
-- columns: table_oid, columns (key column names in index order; NULL where a key is an expression)
SELECT i.indrelid::int8 AS table_oid,
       ARRAY(SELECT a.attname::text
               FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos)
               LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
              WHERE k.pos <= i.indnkeyatts
              ORDER BY k.pos) AS columns
  FROM pg_catalog.pg_index i
 WHERE i.indisvalid AND i.indpred IS NULL;
