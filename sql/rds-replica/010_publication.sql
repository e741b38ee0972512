-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- reads: replica. What custom subscribes to: crm's tables and the read-your-writes fence. Made by
-- the tables' owner (CREATE PUBLICATION ... FOR TABLE needs ownership; FOR ALL TABLES or TABLES IN
-- SCHEMA a superuser). Tables added to crm later join it on the next `dev` (src/stack/replica.ts).
DO $$
BEGIN
  IF current_setting('wal_level') <> 'logical' THEN
    RAISE EXCEPTION 'rds is not set up for logical replication (wal_level = %)', current_setting('wal_level')
      USING HINT = 'On RDS set rds.logical_replication = 1 in the DB parameter group and reboot; or use --reads fdw.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'pgapp_crm') THEN
    CREATE PUBLICATION pgapp_crm FOR TABLE pgapp_bridge.replica_fence;
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA pgapp_bridge TO %I', current_setting('pgapp.replicator_user'));
  EXECUTE format('GRANT SELECT ON pgapp_bridge.replica_fence TO %I', current_setting('pgapp.replicator_user'));
END $$;

-- Every table of crm, now and (called by `dev`) after user SQL adds one — that rds can publish:
-- with a primary key or a replica identity (rds refuses UPDATE and DELETE on a published table
-- without one). Others stay out of the replica; the foreign tables still reach them.
CREATE OR REPLACE FUNCTION pgapp_bridge.publish_crm() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  t regclass;
  added integer := 0;
BEGIN
  FOR t IN SELECT c.oid::regclass FROM pg_class c
           WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p')
             AND (c.relreplident IN ('f', 'i')
                  OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)))
             AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                             WHERE p.pubname = 'pgapp_crm' AND pr.prrelid = c.oid)
  LOOP
    EXECUTE format('ALTER PUBLICATION pgapp_crm ADD TABLE %s', t);
    added := added + 1;
  END LOOP;
  RETURN added;
END $$;
REVOKE ALL ON FUNCTION pgapp_bridge.publish_crm() FROM PUBLIC;
SELECT pgapp_bridge.publish_crm();
