-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- Everything pgapp keeps on rds — the stand-in, or a real RDS (--rds-url) — is in schema pgapp_bridge:
--   bridged         the schemas pgapp mirrors (written by prepare())
--   replica_fence   read-your-writes with reads: replica (custom/api/020_write_through.sql)
--   prepare()       called by every `dev`: settles the schemas, grants the stand-in's roles,
--                   keeps publication pgapp in line with the tables that read the replica
--   published       what prepare() last asked the publication to carry of each table
--   writes          every API write, in one statement (020_writes.sql: a view over replica_fence
--                   whose trigger makes the write and bumps the fence)
--   catalog         rds's own catalog of those schemas, one JSON document (030_catalog.sql): tables,
--                   columns and defaults, keys, foreign keys, indexes, the types and extensions they
--                   use, what is not served. custom reads it over the bridge and builds from it.
-- plus publication pgapp (reads: replica) and, beside it, pgapp_ledger. Nothing else: no trigger,
-- view or grant on the user's tables (on a real RDS the --rds-url user is the bridge user).
CREATE SCHEMA IF NOT EXISTS pgapp_bridge;

-- What earlier versions of pgapp kept here, when it wrote a demo's API by hand: ids were read from
-- per-table views (now rds fills them itself, see catalog_doc below), and the publication was pgapp_crm.
DO $$
DECLARE
  v regclass;
BEGIN
  FOR v IN SELECT c.oid::regclass FROM pg_class c
           WHERE c.relnamespace = 'pgapp_bridge'::regnamespace AND c.relkind = 'v' AND c.relname LIKE '%\_next\_id' LOOP
    EXECUTE format('DROP VIEW %s', v);
  END LOOP;
  DROP FUNCTION IF EXISTS pgapp_bridge.publish_crm();
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'pgapp_crm') THEN
    DROP PUBLICATION pgapp_crm;
  END IF;
END $$;

CREATE TABLE IF NOT EXISTS pgapp_bridge.bridged (schema_name name PRIMARY KEY, position integer NOT NULL);

-- Per published table, what prepare() last put in the publication ({"where": null, "columns": null}:
-- all of it; an earlier pgapp published parts): another ask re-publishes that table alone.
CREATE TABLE IF NOT EXISTS pgapp_bridge.published (relid oid PRIMARY KEY, spec jsonb NOT NULL);

-- Read-your-writes over the colocated read path (reads: replica): every API write through the bridge
-- also bumps one of these counters in the same rds transaction; the write's client then waits, on
-- its next request, until custom has applied that value (custom/api/020_write_through.sql). 64 slots
-- spread concurrent writers; the table is tiny and harmless when reads go through postgres_fdw.
CREATE TABLE IF NOT EXISTS pgapp_bridge.replica_fence (slot integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
INSERT INTO pgapp_bridge.replica_fence (slot) SELECT generate_series(0, 63) ON CONFLICT DO NOTHING;

-- The schemas to bridge: the ones asked for (pgapp.schemas, comma-separated), or '*': every schema
-- the login can use that holds tables or views of its own — not pg_catalog's, pgapp's, or an extension's —
-- in name order. Asking for one that does not exist stops with the ones that do.
CREATE OR REPLACE FUNCTION pgapp_bridge.resolve_schemas(asked text) RETURNS name[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  available name[];
  wanted name[];
  missing text;
BEGIN
  SELECT coalesce(array_agg(n.nspname ORDER BY n.nspname), '{}') INTO available
  FROM pg_namespace n
  WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname NOT IN ('information_schema', 'pgapp_bridge', 'pgapp_ledger')
    AND has_schema_privilege(n.oid, 'USAGE')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
    AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
                  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'));
  IF asked = '*' THEN
    RETURN available;
  END IF;
  wanted := string_to_array(asked, ',')::name[];
  SELECT string_agg(w, ', ') INTO missing FROM unnest(wanted) w WHERE to_regnamespace(quote_ident(w)) IS NULL;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'schema % not found in database %', missing, current_database()
      USING HINT = CASE WHEN cardinality(available) = 0
                        THEN 'It holds no tables yet: create them in db/rds/migrations (or, with --rds-url, pass --seed-remote to run them there).'
                        ELSE format('Schemas with tables here: %s (leave "schemas" unset to bridge them all).', array_to_string(available, ', ')) END;
  END IF;
  RETURN wanted;
END $$;

-- Called by every `dev` (as the master user on the stand-in; as the --rds-url user on a real RDS).
-- Reads pgapp.schemas, pgapp.replica ('true': some table reads the replica, so the publication is
-- kept), pgapp.reads (the default mode) and pgapp.tables (per table: "reads"), pgapp.copy_limit (bytes: a larger table is not published for its first
-- copy, but returned in heldBack for `dev` to ask about), pgapp.own_roles ('true': grant pgapp's own bridge and replicator roles
-- what they need on the bridged schemas), pgapp.bridge_user and pgapp.replicator_user. Returns what it
-- settled: the schemas, and whether rds can feed a replica (and why not).
CREATE OR REPLACE FUNCTION pgapp_bridge.prepare() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  schemas name[] := pgapp_bridge.resolve_schemas(current_setting('pgapp.schemas'));
  replica boolean := current_setting('pgapp.replica')::boolean;
  default_mode text := current_setting('pgapp.reads');
  asked jsonb := current_setting('pgapp.tables')::jsonb;
  r record;
  spec jsonb;
  wanted oid[] := '{}';
  copy_limit bigint := current_setting('pgapp.copy_limit')::bigint;
  held_back jsonb := '[]';
  size record;
  own_roles boolean := current_setting('pgapp.own_roles')::boolean;
  bridge text := current_setting('pgapp.bridge_user');
  replicator text := current_setting('pgapp.replicator_user');
  s name;
  t regclass;
  why text;
  unpublishable text[] := '{}';
BEGIN
  DELETE FROM pgapp_bridge.bridged WHERE schema_name <> ALL (schemas);
  INSERT INTO pgapp_bridge.bridged AS b (schema_name, position)
  SELECT x, i FROM unnest(schemas) WITH ORDINALITY AS u(x, i)
  ON CONFLICT (schema_name) DO UPDATE SET position = excluded.position WHERE b.position IS DISTINCT FROM excluded.position;

  -- pgapp's own roles (sql/rds-standin, on the stand-in and on an rds `pgapp deploy` made): read/write
  -- for the bridge, read for the replicator. Made by the master user, who owns the tables, as on RDS.
  -- Someone's RDS (--rds-url) is reached as its URL's user, which needs none of this.
  IF own_roles THEN
    EXECUTE format('GRANT USAGE ON SCHEMA pgapp_bridge TO %I', bridge);
    EXECUTE format('GRANT SELECT ON pgapp_bridge.catalog TO %I', bridge);
    EXECUTE format('GRANT EXECUTE ON FUNCTION pgapp_bridge.catalog_doc() TO %I', bridge);
    EXECUTE format('GRANT SELECT, UPDATE ON pgapp_bridge.replica_fence, pgapp_bridge.writes TO %I', bridge);
    EXECUTE format('GRANT SELECT ON pgapp_bridge.bridged TO %I', bridge); -- what pgapp_bridge.write() may write
    EXECUTE format('GRANT EXECUTE ON FUNCTION pgapp_bridge.write(), pgapp_bridge.write_row(jsonb, integer), pgapp_bridge.call(jsonb) TO %I', bridge);
    FOREACH s IN ARRAY schemas LOOP
      EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, bridge);
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', s, bridge);
      -- nextval() of serial columns, whose default rds evaluates as the inserting user.
      EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO %I', s, bridge);
      EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', s, bridge);
      EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE ON SEQUENCES TO %I', s, bridge);
      IF replica THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, replicator);
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', s, replicator);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO %I', s, replicator);
      END IF;
    END LOOP;
    IF replica THEN
      EXECUTE format('GRANT USAGE ON SCHEMA pgapp_bridge TO %I', replicator);
      EXECUTE format('GRANT SELECT ON pgapp_bridge.replica_fence TO %I', replicator);
    END IF;
  END IF;

  IF NOT replica THEN
    -- No table reads the replica: none stays published (custom reads each through postgres_fdw).
    FOR t IN SELECT pr.prrelid::regclass FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
             WHERE p.pubname = 'pgapp' AND pr.prrelid <> 'pgapp_bridge.replica_fence'::regclass LOOP
      EXECUTE format('ALTER PUBLICATION pgapp DROP TABLE %s', t);
    END LOOP;
    DELETE FROM pgapp_bridge.published;
    RETURN jsonb_build_object('schemas', to_jsonb(schemas), 'replica', jsonb_build_object('ok', false));
  END IF;

  -- Can rds feed a replica? Only what RDS offers: logical replication on (a parameter group and a
  -- reboot), a user that may replicate, and tables it owns (CREATE PUBLICATION … FOR TABLE needs that).
  IF current_setting('wal_level') <> 'logical' THEN
    why := format('it does not publish logical replication (wal_level = %s): set rds.logical_replication = 1 in its DB parameter group and reboot it', current_setting('wal_level'));
  ELSIF NOT ((SELECT rolreplication FROM pg_roles WHERE rolname = current_user)
             OR coalesce((SELECT pg_has_role(current_user, 'rds_replication', 'MEMBER') FROM pg_roles WHERE rolname = 'rds_replication'), false)) THEN
    why := format('%s may not replicate: as the master user, GRANT rds_replication TO %I', current_user, current_user);
  ELSIF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'pgapp')
        AND EXISTS (SELECT 1 FROM pg_class c JOIN pgapp_bridge.bridged b ON c.relnamespace = to_regnamespace(quote_ident(b.schema_name))
                    WHERE c.relkind IN ('r', 'p') AND NOT pg_has_role(current_user, c.relowner, 'USAGE')) THEN
    why := format('%s does not own every table of %s, so it cannot publish them: as their owner, CREATE PUBLICATION pgapp FOR TABLE <those tables>, pgapp_bridge.replica_fence',
                  current_user, array_to_string(schemas, ', '));
  END IF;
  IF why IS NOT NULL THEN
    RETURN jsonb_build_object('schemas', to_jsonb(schemas), 'replica', jsonb_build_object('ok', false, 'why', why));
  END IF;

  IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'pgapp') THEN
    CREATE PUBLICATION pgapp FOR TABLE pgapp_bridge.replica_fence WITH (publish_via_partition_root = true);
  END IF;
  -- The bridged tables that read the replica ("reads" per table, else pgapp.reads) and that rds can
  -- publish: with a primary key or a replica identity (once published, rds refuses UPDATE and DELETE
  -- on a table without one; the others are read through postgres_fdw). Whole tables: custom serves
  -- each as rds's table (custom/bridge/050_tables.sql). A table an earlier pgapp published in part
  -- (a row filter, a column list) leaves the publication and comes back whole.
  FOR r IN SELECT c.oid, c.oid::regclass AS t, format('%s.%s', n.nspname, c.relname) AS rel, c.relreplident,
                  c.relreplident IN ('f', 'i') OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)) AS ok,
                  coalesce(asked -> format('%s.%s', n.nspname, c.relname), '{}') AS conf,
                  EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                          WHERE p.pubname = 'pgapp' AND pr.prrelid = c.oid) AS member
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pgapp_bridge.bridged b ON b.schema_name = n.nspname
           WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
           ORDER BY b.position, c.relname
  LOOP
    CONTINUE WHEN coalesce(r.conf ->> 'reads', default_mode) <> 'replica';
    IF NOT r.ok THEN
      unpublishable := unpublishable || r.t::text;
      CONTINUE;
    END IF;
    -- pgapp.config.json's check says so first (src/config/schema.ts).
    IF r.conf ? 'columns' OR r.conf ? 'where' THEN
      RAISE EXCEPTION '"tables" asks for part of % in the replica ("where", "columns"): a replica holds the whole table', r.rel
        USING HINT = 'Drop "where" and "columns" for it; to copy nothing of it, "reads": "fdw".';
    END IF;
    spec := jsonb_build_object('where', NULL, 'columns', NULL);
    -- A first copy larger than pgapp.copy_limit waits for a yes (`dev` asks, or --yes): not published.
    IF NOT r.member THEN
      SELECT z.bytes, z.rows INTO size FROM pgapp_bridge.table_size(r.oid) z;
      IF size.bytes > copy_limit THEN
        held_back := held_back || jsonb_build_object('rel', r.rel, 'bytes', size.bytes, 'rows', size.rows);
        CONTINUE;
      END IF;
    END IF;
    wanted := wanted || r.oid;
    CONTINUE WHEN r.member AND spec = (SELECT p.spec FROM pgapp_bridge.published p WHERE p.relid = r.oid);
    IF r.member THEN
      EXECUTE format('ALTER PUBLICATION pgapp DROP TABLE %s', r.t);
    END IF;
    EXECUTE format('ALTER PUBLICATION pgapp ADD TABLE %s', r.t);
    INSERT INTO pgapp_bridge.published AS p (relid, spec) VALUES (r.oid, spec)
    ON CONFLICT (relid) DO UPDATE SET spec = excluded.spec;
  END LOOP;
  -- Tables no longer asked for (another mode, gone from the bridged schemas, or no longer publishable)
  -- leave the publication.
  FOR t IN SELECT pr.prrelid::regclass FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
           WHERE p.pubname = 'pgapp' AND pr.prrelid <> 'pgapp_bridge.replica_fence'::regclass AND pr.prrelid <> ALL (wanted)
  LOOP
    EXECUTE format('ALTER PUBLICATION pgapp DROP TABLE %s', t);
  END LOOP;
  DELETE FROM pgapp_bridge.published WHERE relid <> ALL (wanted);
  RETURN jsonb_build_object('schemas', to_jsonb(schemas), 'replica', jsonb_build_object(
    'ok', true, 'unpublishable', to_jsonb(unpublishable), 'heldBack', held_back));
END $$;
REVOKE ALL ON FUNCTION pgapp_bridge.prepare(), pgapp_bridge.resolve_schemas(text) FROM PUBLIC;
