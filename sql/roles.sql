-- roles.sql: least-privilege roles for pgsnap. Run as a superuser (or, on Supabase, as postgres)
-- after replacing the passwords; adjust the schema list to the schemas you back up.
--
--   pgsnap_backup   reads every table, bypassing row-level security (a role that cannot bypass
--                   RLS gets an error from pgsnap, never a silently short backup).
--   pgsnap_restore  writes tenant rows back. It must own the tables to disable their user
--                   triggers during a restore (else use --triggers fire), and bypass RLS because
--                   COPY and the checks must see every row.

CREATE ROLE pgsnap_backup LOGIN BYPASSRLS PASSWORD 'change-me';
GRANT USAGE ON SCHEMA public TO pgsnap_backup;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO pgsnap_backup;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO pgsnap_backup;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO pgsnap_backup;

CREATE ROLE pgsnap_restore LOGIN BYPASSRLS PASSWORD 'change-me';
GRANT USAGE ON SCHEMA public TO pgsnap_restore;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO pgsnap_restore;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO pgsnap_restore;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO pgsnap_restore;
-- Staging uses temporary tables: PUBLIC has TEMPORARY on every database by default; if your
-- database revoked it, GRANT TEMPORARY ON DATABASE <db> TO pgsnap_restore.
