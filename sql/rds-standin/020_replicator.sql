-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- The stand-in, when some table reads the replica (pgapp.replica). The role custom's subscription logs in as, made the RDS way:
-- the master user creates it and grants rds_replication (images/rds/upgrade.d/20-replication.sql;
-- the guard gives members the REPLICATION attribute stock PostgreSQL checks). Not a superuser:
-- SELECT on the bridged tables (the initial copy) and the fence, nothing else — granted by
-- pgapp_bridge.prepare() (rds-bridge/010_bridge.sql) on every `dev`.
DO $$
DECLARE
  r text := current_setting('pgapp.replicator_user');
BEGIN
  IF NOT current_setting('pgapp.replica')::boolean THEN
    RETURN; -- every read through postgres_fdw: no subscriber (a role made earlier stays, unused)
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
    EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT 5 PASSWORD %L',
                   r, current_setting('pgapp.replicator_password'));
  ELSE
    -- Only a superuser alters a role that may replicate: revoke, set the password, grant again (one
    -- transaction; the guard clears and sets the attribute as rdsadmin).
    EXECUTE format('REVOKE rds_replication FROM %I', r);
    EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', r, current_setting('pgapp.replicator_password'));
  END IF;
  EXECUTE format('GRANT rds_replication TO %I', r);
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
  EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I', r);
END $$;
