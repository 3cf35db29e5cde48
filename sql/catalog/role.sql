-- role.sql: what the connected role may do, and the server it talks to.
-- params: none
-- columns: role, superuser, bypassrls, server_version_num, server_version, database
SELECT current_user AS role,
       r.rolsuper AS superuser,
       r.rolbypassrls AS bypassrls,
       current_setting('server_version_num')::int AS server_version_num,
       current_setting('server_version') AS server_version,
       current_database() AS database
  FROM pg_catalog.pg_roles r
 WHERE r.rolname = current_user;
