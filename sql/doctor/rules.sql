-- rules.sql: user rewrite rules (not the _RETURN rule of views) on tables.
-- params: none
-- columns: table_oid, name, event ('1' select, '2' update, '3' insert, '4' delete)
SELECT r.ev_class::int8 AS table_oid, r.rulename AS name, r.ev_type::text AS event
  FROM pg_catalog.pg_rewrite r
 WHERE r.rulename <> '_RETURN'
 ORDER BY r.ev_class, r.rulename;
