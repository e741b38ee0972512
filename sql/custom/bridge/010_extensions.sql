-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- What RDS will not give you, on the custom Postgres.
-- postgres_fdw in a schema of its own, never in public: PostgREST serves rds's schemas on custom, and
-- public is often one of them — its functions (postgres_fdw_disconnect_all() …) would be endpoints
-- that rds does not have, callable by anyone (EXECUTE is PUBLIC's by default).
CREATE SCHEMA IF NOT EXISTS pgapp_fdw;
REVOKE ALL ON SCHEMA pgapp_fdw FROM PUBLIC;
CREATE EXTENSION IF NOT EXISTS postgres_fdw SCHEMA pgapp_fdw;
-- A stack made before: its postgres_fdw was created in public. Its servers and foreign tables stay.
DO $$
BEGIN
  IF (SELECT e.extnamespace FROM pg_extension e WHERE e.extname = 'postgres_fdw') <> 'pgapp_fdw'::regnamespace THEN
    ALTER EXTENSION postgres_fdw SET SCHEMA pgapp_fdw;
  END IF;
END $$;
-- dblink beside it: a function of rds's that only reads, and that custom cannot run itself, is called
-- on rds over a connection of its own (bridge/080_functions.sql) — a GET is a read-only transaction
-- here, which postgres_fdw's writes channel cannot serve.
CREATE EXTENSION IF NOT EXISTS dblink SCHEMA pgapp_fdw;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS plpython3u;
