-- The rds tables as foreign tables in a private schema, owned by api_owner (so its user mapping is
-- the one used), with local defaults that stand in for the remote ones postgres_fdw never fires.
CREATE SCHEMA rds_crm AUTHORIZATION api_owner;
CREATE SCHEMA rds_bridge AUTHORIZATION api_owner;
REVOKE ALL ON SCHEMA rds_crm, rds_bridge FROM PUBLIC;

-- import_default copies now() for created_at; identity columns are not copied (see below).
IMPORT FOREIGN SCHEMA crm FROM SERVER rds INTO rds_crm OPTIONS (import_default 'true');
IMPORT FOREIGN SCHEMA pgapp_bridge FROM SERVER rds INTO rds_bridge;

-- A new row's id comes from the remote sequence: one read of pgapp_bridge.<table>_next_id.
CREATE FUNCTION rds_bridge.next_id(tbl text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v bigint;
BEGIN
  EXECUTE format('SELECT id FROM rds_bridge.%I', tbl || '_next_id') INTO STRICT v;
  RETURN v;
END $$;
REVOKE ALL ON FUNCTION rds_bridge.next_id(text) FROM PUBLIC;

DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT c.oid::regclass AS rel, c.relname FROM pg_class c
           WHERE c.relnamespace IN ('rds_crm'::regnamespace, 'rds_bridge'::regnamespace) AND c.relkind = 'f'
  LOOP
    EXECUTE format('ALTER FOREIGN TABLE %s OWNER TO api_owner', t.rel);
    IF t.rel::text LIKE 'rds_crm.%' AND to_regclass(format('rds_bridge.%I', t.relname || '_next_id')) IS NOT NULL THEN
      EXECUTE format('ALTER FOREIGN TABLE %s ALTER COLUMN id SET DEFAULT rds_bridge.next_id(%L)', t.rel, t.relname);
    END IF;
  END LOOP;
END $$;
ALTER FUNCTION rds_bridge.next_id(text) OWNER TO api_owner;

-- Local statistics, so plans (and PostgREST's count=planned) know the remote sizes.
ANALYZE rds_crm.companies, rds_crm.contacts, rds_crm.deals, rds_crm.activities;
