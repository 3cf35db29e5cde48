-- triggers.sql: enabled user triggers (not the internal ones that enforce foreign keys).
-- params: none
-- columns: table_oid, name, enabled ('O' origin/local, 'A' always, 'R' replica)
SELECT t.tgrelid::int8 AS table_oid, t.tgname AS name, t.tgenabled::text AS enabled
  FROM pg_catalog.pg_trigger t
 WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND t.tgparentid = 0
 ORDER BY t.tgrelid, t.tgname;
