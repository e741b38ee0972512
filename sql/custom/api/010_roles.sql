-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- PostgREST's roles: authenticator logs in (NOINHERIT) and switches to web_anon (anonymous,
-- read-only) or web_user (a valid JWT, read-write). Nothing else is granted to them.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator LOGIN NOINHERIT NOCREATEDB NOCREATEROLE NOSUPERUSER;
  END IF;
  EXECUTE format('ALTER ROLE authenticator LOGIN NOINHERIT PASSWORD %L', current_setting('pgapp.authenticator_password'));
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'web_anon') THEN
    CREATE ROLE web_anon NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'web_user') THEN
    CREATE ROLE web_user NOLOGIN;
  END IF;
END $$;
GRANT web_anon, web_user TO authenticator;
-- No request waits forever on a far-away rds: PostgREST applies these settings of the roles it
-- switches to (impersonated role settings), and postgres_fdw cancels the remote query.
ALTER ROLE web_anon SET statement_timeout = '15s';
ALTER ROLE web_user SET statement_timeout = '15s';
-- PostgREST runs prepared statements whose LIMIT and OFFSET are parameters. After five runs Postgres
-- may switch to a generic plan, in which postgres_fdw cannot push them to rds: every skipped row of
-- an `offset` page would cross the bridge. A custom plan per request keeps them pushed down
-- (BENCHMARKS.md: deep offset page).
ALTER ROLE web_anon SET plan_cache_mode = 'force_custom_plan';
ALTER ROLE web_user SET plan_cache_mode = 'force_custom_plan';
-- Functions are EXECUTE-able by PUBLIC unless revoked: nothing of api_owner's is, by default.
ALTER DEFAULT PRIVILEGES FOR ROLE api_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
-- The API roles reach the api schema and nothing else on this server: no other database, no
-- temporary tables or pg_temp functions, no large objects (storage outside every grant).
DO $$
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  -- api_owner refreshes the cache: REFRESH ... CONCURRENTLY diffs through a temporary table.
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO api_owner', current_database());
  IF current_database() <> 'postgres' THEN
    REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
  END IF;
END $$;
REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea) FROM PUBLIC;
