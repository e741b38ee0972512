-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- The role postgres_fdw logs in as: read/write on crm only, nothing else. Created by the master
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

-- postgres_fdw never fires remote defaults or identities (it sends every column), so the bridge
-- fetches ids from the remote sequences through these one-row views, one nextval() per read.
CREATE SCHEMA IF NOT EXISTS pgapp_bridge;
DO $$
DECLARE
  t record;
  seq text;
BEGIN
  FOR t IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r' LOOP
    -- Only tables with an `id` column backed by a sequence (checked here: a WHERE clause may be
    -- evaluated in any order, and pg_get_serial_sequence fails on a table without `id`).
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_attribute a
                              WHERE a.attrelid = format('crm.%I', t.relname)::regclass AND a.attname = 'id' AND NOT a.attisdropped);
    seq := pg_get_serial_sequence(format('crm.%I', t.relname), 'id');
    CONTINUE WHEN seq IS NULL;
    EXECUTE format('CREATE OR REPLACE VIEW pgapp_bridge.%I AS SELECT nextval(%L::regclass) AS id', t.relname || '_next_id', seq);
  END LOOP;
END $$;
DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA pgapp_bridge TO %I', current_setting('pgapp.bridge_user'));
  EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA pgapp_bridge TO %I', current_setting('pgapp.bridge_user'));
END $$;
