-- columns.sql: the columns of every user table, with their types resolved through domains.
-- params: none
-- columns: table_oid, name, num, type (format_type, usable in a cast), type_oid,
--          base_type (typname after domains), base_category (typcategory after domains),
--          base_kind (typtype after domains: b, c, e, r, m, p), not_null,
--          generated ('' or 's'), identity ('' or 'a' or 'd'), has_default (a DEFAULT clause)
WITH RECURSIVE base(type_oid, cur) AS (
  SELECT t.oid, t.oid FROM pg_catalog.pg_type t
   WHERE t.oid IN (SELECT atttypid FROM pg_catalog.pg_attribute WHERE attnum > 0)
  UNION ALL
  SELECT b.type_oid, t.typbasetype FROM base b JOIN pg_catalog.pg_type t ON t.oid = b.cur
   WHERE t.typtype = 'd'
)
SELECT a.attrelid::int8 AS table_oid,
       a.attname AS name,
       a.attnum AS num,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.atttypid::int8 AS type_oid,
       bt.typname AS base_type,
       bt.typcategory::text AS base_category,
       bt.typtype::text AS base_kind,
       a.attnotnull AS not_null,
       a.attgenerated::text AS generated,
       a.attidentity::text AS identity,
       a.atthasdef AND a.attgenerated = '' AS has_default
  FROM pg_catalog.pg_attribute a
  JOIN base b ON b.type_oid = a.atttypid
  JOIN pg_catalog.pg_type bt ON bt.oid = b.cur AND bt.typtype <> 'd'
 WHERE a.attnum > 0 AND NOT a.attisdropped
   AND a.attrelid IN (SELECT c.oid FROM pg_catalog.pg_class c
                        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                       WHERE c.relkind IN ('r', 'p')
                         AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                         AND n.nspname NOT LIKE 'pg\_toast%')
 ORDER BY a.attrelid, a.attnum;
