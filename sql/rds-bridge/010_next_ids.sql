-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- What the bridge needs on rds — the stand-in or a real remote (--rds-url) — and nothing more.
DO $$
BEGIN
  IF to_regnamespace('crm') IS NULL THEN
    RAISE EXCEPTION 'schema crm not found in database %', current_database()
      USING HINT = 'Pass --seed-remote to create and seed it there, or point --rds-url at the database that has it.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'crm' AND column_name = 'owner_id') THEN
    RAISE EXCEPTION 'the crm tables in database % have no owner_id column (per-user access needs it)', current_database()
      USING HINT = 'Add it as sql/rds/050_owner.sql does, or pass --seed-remote on an empty database.';
  END IF;
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

-- Read-your-writes over the colocated read path (reads: replica): every API write through the bridge
-- also bumps one of these counters in the same rds transaction; the write's client then waits, on
-- its next request, until custom has applied that value (custom/api/040_replica.sql). 64 slots
-- spread concurrent writers; the table is tiny and harmless when reads go through postgres_fdw.
CREATE TABLE IF NOT EXISTS pgapp_bridge.replica_fence (slot integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
INSERT INTO pgapp_bridge.replica_fence (slot) SELECT generate_series(0, 63) ON CONFLICT DO NOTHING;
DO $$
BEGIN
  EXECUTE format('GRANT SELECT, UPDATE ON pgapp_bridge.replica_fence TO %I', current_setting('pgapp.bridge_user'));
END $$;
