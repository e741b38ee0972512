-- rds_replication, as on RDS: the master user grants it to a role that should replicate (logical
-- replication, when the parameter group sets rds.logical_replication = 1). The guard turns the
-- grant into the REPLICATION attribute stock PostgreSQL checks (images/rds/guard).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_replication') THEN
    CREATE ROLE rds_replication NOLOGIN;
  END IF;
END $$;
GRANT rds_replication TO rds_superuser WITH ADMIN OPTION;
-- The master user replicates as on RDS (rds_superuser may): stock PostgreSQL needs the attribute on
-- the login role itself, membership does not carry it.
DO $$
DECLARE
  r text;
BEGIN
  FOR r IN SELECT m.rolname FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member
           WHERE am.roleid = 'rds_superuser'::regrole AND m.rolcanlogin AND NOT m.rolreplication LOOP
    EXECUTE format('ALTER ROLE %I REPLICATION', r);
  END LOOP;
END $$;
