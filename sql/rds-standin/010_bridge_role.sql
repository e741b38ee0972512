-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- The stand-in only (never a real remote): the role postgres_fdw logs in as. Created by the master user
-- (CREATEROLE), as it would be on RDS. What it may read and write — the bridged schemas, nothing
-- else — is granted by pgapp_bridge.prepare() (rds-bridge/010_bridge.sql) on every `dev`, so tables
-- and schemas your migrations add later are covered too.
DO $$
DECLARE
  r text := current_setting('pgapp.bridge_user');
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
    EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION CONNECTION LIMIT 50 PASSWORD %L',
                   r, current_setting('pgapp.bridge_password'));
  ELSE
    -- On RDS (and here) a CREATEROLE user may not even restate SUPERUSER/REPLICATION attributes.
    EXECUTE format('ALTER ROLE %I LOGIN NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L',
                   r, current_setting('pgapp.bridge_password'));
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
  -- Nothing to create anywhere: PG15 already keeps PUBLIC from creating in schema public.
  EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I', r);
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END $$;
