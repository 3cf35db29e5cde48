-- privileges.sql: whether the current role may SELECT each table (a dump reads every row).
-- params: $1 int8[] (table oids)
-- columns: table_oid, can_select
SELECT t.oid AS table_oid, pg_catalog.has_table_privilege(t.oid::oid, 'SELECT') AS can_select
  FROM unnest($1::int8[]) AS t(oid);
