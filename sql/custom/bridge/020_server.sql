-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- The postgres_fdw server pointing at rds (the stand-in by service name, or --rds-url), TLS verified
-- (or at least required, unless explicitly relaxed), the role that owns the foreign tables, and one
-- user mapping, for PUBLIC: every role custom lets read a foreign table — the API's roles reading an
-- fdw table's rows through its inheritance child (bridge/050_tables.sql), the write path as api_owner,
-- the developer's psql session — reaches rds as the bridge user, over one connection per session, so
-- a request's reads and writes there are one rds transaction.
CREATE SCHEMA IF NOT EXISTS pgapp_private;
REVOKE ALL ON SCHEMA pgapp_private FROM PUBLIC;

-- "OPTIONS (...)" for CREATE, or ADD/SET/DROP each option for ALTER, from a jsonb map (a null value:
-- the option is not wanted).
CREATE OR REPLACE FUNCTION pgapp_private.fdw_options(wanted jsonb, current text[], for_alter boolean)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT 'OPTIONS (' || string_agg(
           CASE WHEN value IS NULL THEN format('DROP %I', key)
                WHEN NOT for_alter THEN format('%I %L', key, value)
                WHEN has THEN format('SET %I %L', key, value)
                ELSE format('ADD %I %L', key, value) END, ', ') || ')'
  FROM (SELECT key, value, EXISTS (SELECT 1 FROM unnest(current) o WHERE split_part(o, '=', 1) = key) AS has
          FROM jsonb_each_text(wanted)) w
  WHERE value IS NOT NULL OR (for_alter AND has)
$$;

DO $$
DECLARE
  server_opts jsonb := jsonb_build_object(
    'host', current_setting('pgapp.rds_host'), 'port', current_setting('pgapp.rds_port'),
    'dbname', current_setting('pgapp.rds_dbname'), 'sslmode', current_setting('pgapp.rds_sslmode'),
    -- The CA rds's certificate is verified against (sslmode=verify-full): the project's own, or the
    -- real RDS's bundle; none (libpq's default) only for a remote with sslmode=require.
    'sslrootcert', nullif(current_setting('pgapp.rds_sslrootcert'), 'none'),
    -- 100 rows per round trip (the default) makes large scans slow; 1000 is a better trade-off.
    'fetch_size', '1000', 'async_capable', 'true',
    -- Moving a row over the bridge costs far more than the default 0.01 says: with a realistic
    -- cost the planner pushes joins and their aggregates to rds instead of fetching whole tables
    -- (measured in BENCHMARKS.md: a join + aggregate went from 25,019 rows fetched to the 5 needed).
    'fdw_tuple_cost', '0.2',
    -- An rds that does not answer must not hang the API: bounded connection set-up, and dead
    -- connections noticed (the API roles' statement_timeout bounds the rest, see api/010_roles.sql).
    'connect_timeout', '5', 'keepalives', '1', 'keepalives_idle', '10', 'keepalives_interval', '5',
    'keepalives_count', '3',
    -- TRUNCATE of a table on custom never reaches rds (an fdw table's foreign child would take it).
    'truncatable', 'false');
  mapping_opts jsonb := jsonb_build_object('user', current_setting('pgapp.bridge_user'), 'password', current_setting('pgapp.bridge_password'));
  current text[];
  who text;
BEGIN
  SELECT srvoptions INTO current FROM pg_foreign_server WHERE srvname = 'rds';
  IF FOUND THEN
    EXECUTE 'ALTER SERVER rds ' || pgapp_private.fdw_options(server_opts, current, true);
  ELSE
    EXECUTE 'CREATE SERVER rds FOREIGN DATA WRAPPER postgres_fdw ' || pgapp_private.fdw_options(server_opts, NULL, false);
  END IF;

  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'api_owner') THEN
    CREATE ROLE api_owner NOLOGIN;
  END IF;
  GRANT USAGE ON FOREIGN SERVER rds TO api_owner;

  SELECT umoptions INTO current FROM pg_user_mappings WHERE srvname = 'rds' AND usename = 'public';
  IF FOUND THEN
    EXECUTE 'ALTER USER MAPPING FOR PUBLIC SERVER rds ' || pgapp_private.fdw_options(mapping_opts, current, true);
  ELSE
    EXECUTE 'CREATE USER MAPPING FOR PUBLIC SERVER rds ' || pgapp_private.fdw_options(mapping_opts, NULL, false);
  END IF;
  -- An earlier pgapp's mappings per role (each its own connection to rds).
  FOR who IN SELECT usename FROM pg_user_mappings WHERE srvname = 'rds' AND usename <> 'public' LOOP
    EXECUTE format('DROP USER MAPPING FOR %I SERVER rds', who);
  END LOOP;
END $$;
