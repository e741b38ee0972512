-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- The stand-in only (never a real remote): the role postgres_fdw logs in as, read/write on crm only,
-- nothing else. Created by the master
-- user (CREATEROLE), as it would be on RDS.
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
  EXECUTE format('GRANT USAGE ON SCHEMA crm TO %I', r);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA crm TO %I', r);
  -- nextval() for ids of rows inserted through the bridge (see the next_id views below).
  EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO %I', r);
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA crm GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', r);
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA crm GRANT USAGE ON SEQUENCES TO %I', r);
  -- Nothing to create anywhere: PG15 already keeps PUBLIC from creating in schema public.
  EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I', r);
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END $$;
