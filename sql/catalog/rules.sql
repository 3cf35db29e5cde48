-- rules.sql: enabled rewrite rules on user tables (CREATE RULE), which would rewrite or add to a
-- restore's INSERT / UPDATE / DELETE. Views' _RETURN rules are not on tables and are left out.
-- params: none
-- columns: table_oid, name, event ('1' SELECT, '2' UPDATE, '3' INSERT, '4' DELETE), enabled
--          ('O' origin, 'A' always, 'R' replica), instead
SELECT r.ev_class::int8 AS table_oid, r.rulename AS name, r.ev_type::text AS event,
       r.ev_enabled::text AS enabled, r.is_instead AS instead
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
 WHERE c.relkind IN ('r', 'p') AND r.rulename <> '_RETURN' AND r.ev_enabled <> 'D'
 ORDER BY r.ev_class, r.rulename;
