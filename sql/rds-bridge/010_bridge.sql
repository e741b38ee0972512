-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- Everything pgapp keeps on rds — the stand-in, or a real RDS (--rds-url) — is in schema pgapp_bridge:
--   bridged         the schemas pgapp mirrors (written by prepare())
--   catalog         rds's own catalog of those schemas, one JSON document: tables, columns and
--                   defaults, keys, foreign keys, indexes, the types and extensions they use. custom
--                   reads it over the bridge and builds its foreign tables, replica and API from it.
--   replica_fence   read-your-writes with reads: replica (custom/api/040_replica.sql)
--   prepare()       called by every `dev`: settles the schemas, grants the stand-in's roles,
--                   keeps publication pgapp in line with the bridged tables (reads: replica)
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

-- Read-your-writes over the colocated read path (reads: replica): every API write through the bridge
-- also bumps one of these counters in the same rds transaction; the write's client then waits, on
-- its next request, until custom has applied that value (custom/api/040_replica.sql). 64 slots
-- spread concurrent writers; the table is tiny and harmless when reads go through postgres_fdw.
CREATE TABLE IF NOT EXISTS pgapp_bridge.replica_fence (slot integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
INSERT INTO pgapp_bridge.replica_fence (slot) SELECT generate_series(0, 63) ON CONFLICT DO NOTHING;

-- The bridged schemas' tables as rds defines them. Names are schema-qualified (search_path is
-- pg_catalog here), so every definition means the same on custom, where the same schemas and types
-- exist. Per column, where its default can be evaluated:
--   defaultOn 'custom'  only pg_catalog's functions and casts (now(), gen_random_uuid(), 'open'::desk.status):
--                       copied as the foreign table's local default (postgres_fdw sends every column)
--   defaultOn 'rds'     an identity, a generated column, a sequence (serial, bigserial), the clock
--                       (now(), CURRENT_TIMESTAMP: created_at is the server's to say), or one of the
--                       user's functions: rds assigns it (the foreign table sends DEFAULT), clients do not
--                       ('assignedBy' says which)
-- Tables that belong to an extension (postgis's spatial_ref_sys, say) are not the user's: left out.
-- SECURITY DEFINER: the bridge user reads it through the view, and the function reads
-- pgapp_bridge.bridged (only the catalogs besides, which every role may read). jit off: the
-- planner's estimates for this many catalog subqueries pass jit_above_cost, and compiling them
-- took ~2 s of a 3 ms query, on every `dev`.
CREATE OR REPLACE FUNCTION pgapp_bridge.catalog_doc() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog SET jit = off AS $$
WITH rel AS (
  SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind, c.relreplident, b.position
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pgapp_bridge.bridged b ON b.schema_name = n.nspname
  WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
),
col AS (
  SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.attnotnull, a.attidentity, a.attgenerated,
         format_type(a.atttypid, a.atttypmod) AS type,
         pg_get_expr(ad.adbin, ad.adrelid) AS expr,
         col_description(a.attrelid, a.attnum) AS comment,
         -- A default that needs rds: a sequence (serial) or another relation, or a function outside pg_catalog.
         ad.oid IS NOT NULL AND EXISTS (
           SELECT 1 FROM pg_depend d
           WHERE d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
             AND ((d.refclassid = 'pg_class'::regclass AND d.refobjid <> a.attrelid)
                  OR (d.refclassid = 'pg_proc'::regclass
                      AND (SELECT p.pronamespace FROM pg_proc p WHERE p.oid = d.refobjid) <> 'pg_catalog'::regnamespace))
         ) AS needs_rds
  FROM pg_attribute a
  JOIN rel ON rel.oid = a.attrelid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped
),
col2 AS (
  SELECT col.*,
         CASE WHEN col.attidentity <> '' THEN 'identity'
              WHEN col.attgenerated <> '' THEN 'generated'
              WHEN col.expr ~ '\mnextval\(' THEN 'sequence'
              WHEN col.expr ~* '\m(now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday)\(\)|\mCURRENT_(TIMESTAMP|DATE|TIME)\M|\mLOCAL(TIMESTAMP|TIME)\M' THEN 'clock'
              WHEN col.needs_rds THEN 'function' END AS assigned_by
  FROM col
),
-- Every type a bridged column uses, and what those are built on (array elements, a domain's base,
-- a composite's attributes, a range's subtype), transitively.
used (oid) AS (
  WITH RECURSIVE u (oid) AS (
    SELECT DISTINCT atttypid FROM col
    UNION
    SELECT x.oid FROM u JOIN pg_type t ON t.oid = u.oid
    CROSS JOIN LATERAL (
      SELECT t.typelem AS oid WHERE t.typelem <> 0 AND t.typcategory = 'A'
      UNION ALL SELECT t.typbasetype WHERE t.typtype = 'd'
      UNION ALL SELECT a.atttypid FROM pg_attribute a
                WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
      UNION ALL SELECT r.rngsubtype FROM pg_range r WHERE t.typtype = 'r' AND r.rngtypid = t.oid
    ) x
  )
  SELECT oid FROM u
),
ext AS (
  SELECT DISTINCT e.extname, en.nspname AS schema
  FROM used JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = used.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid
  JOIN pg_namespace en ON en.oid = e.extnamespace
),
typ AS (
  SELECT t.oid, n.nspname AS schema, t.typname AS name, t.typtype AS kind, t.typbasetype, t.typtypmod,
         t.typnotnull, t.typdefault, t.typrelid
  FROM used JOIN pg_type t ON t.oid = used.oid JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND t.typtype IN ('e', 'd', 'c', 'r')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
)
SELECT jsonb_build_object(
  'database', current_database(),
  'schemas', (SELECT coalesce(jsonb_agg(schema_name ORDER BY position), '[]') FROM pgapp_bridge.bridged),
  'tables', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'schema', rel.schema,
      'name', rel.name,
      'comment', obj_description(rel.oid, 'pg_class'),
      'replicaIdentity', rel.relreplident,
      'published', EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                           WHERE p.pubname = 'pgapp' AND pr.prrelid = rel.oid),
      'columns', (SELECT jsonb_agg(jsonb_build_object(
          'name', col.attname,
          'type', col.type,
          'notNull', col.attnotnull,
          'identity', nullif(col.attidentity, ''),
          'generated', nullif(col.attgenerated, ''),
          'expr', col.expr,
          -- Whether custom can evaluate the expression itself (a generated column's, for the replica).
          'exprOn', CASE WHEN col.expr IS NULL THEN NULL WHEN col.needs_rds THEN 'rds' ELSE 'custom' END,
          'defaultOn', CASE WHEN col.assigned_by IS NOT NULL THEN 'rds' WHEN col.expr IS NOT NULL THEN 'custom' END,
          'assignedBy', col.assigned_by,
          'comment', col.comment) ORDER BY col.attnum)
        FROM col2 AS col WHERE col.attrelid = rel.oid),
      'key', (SELECT jsonb_agg(a.attname ORDER BY k.ord)
                FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
               WHERE i.indrelid = rel.oid AND i.indisprimary),
      'constraints', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'name', co.conname,
          'kind', co.contype,
          'def', pg_get_constraintdef(co.oid),
          'columns', (SELECT jsonb_agg(a.attname ORDER BY k.ord) FROM unnest(co.conkey) WITH ORDINALITY AS k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum),
          'refSchema', rn.nspname,
          'refTable', rc.relname,
          'refColumns', (SELECT jsonb_agg(a.attname ORDER BY k.ord) FROM unnest(co.confkey) WITH ORDINALITY AS k(attnum, ord)
                           JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.attnum))
          ORDER BY co.contype = 'f', co.conname)
        FROM pg_constraint co
        LEFT JOIN pg_class rc ON rc.oid = co.confrelid
        LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
        WHERE co.conrelid = rel.oid AND co.contype IN ('p', 'u', 'f')), '[]'),
      'indexes', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'name', ic.relname, 'def', pg_get_indexdef(i.indexrelid), 'unique', i.indisunique,
          -- Its columns, when it has no expression (NULL otherwise).
          'columns', CASE WHEN NOT 0 = ANY (i.indkey::int2[]) AND i.indpred IS NULL THEN
                       (SELECT jsonb_agg(a.attname ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) END) ORDER BY ic.relname)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = rel.oid AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid)), '[]'),
      'rows', (SELECT CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END FROM pg_class c WHERE c.oid = rel.oid))
    ORDER BY rel.position, rel.name) FROM rel), '[]'),
  'types', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'schema', typ.schema,
      'name', typ.name,
      'kind', typ.kind,
      'labels', CASE WHEN typ.kind = 'e' THEN (SELECT jsonb_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = typ.oid) END,
      'base', CASE WHEN typ.kind = 'd' THEN format_type(typ.typbasetype, typ.typtypmod) END,
      'notNull', typ.typnotnull,
      'default', typ.typdefault,
      'checks', CASE WHEN typ.kind = 'd' THEN (SELECT coalesce(jsonb_agg(pg_get_constraintdef(co.oid) ORDER BY co.conname), '[]')
                                               FROM pg_constraint co WHERE co.contypid = typ.oid AND co.contype = 'c') END,
      'attributes', CASE WHEN typ.kind = 'c' THEN (SELECT jsonb_agg(jsonb_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
                                                   FROM pg_attribute a WHERE a.attrelid = typ.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END,
      'subtype', CASE WHEN typ.kind = 'r' THEN (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = typ.oid) END,
      'table', CASE WHEN typ.kind = 'c' THEN (SELECT c.relkind <> 'c' FROM pg_class c WHERE c.oid = typ.typrelid) END)
    ORDER BY typ.schema, typ.name) FROM typ), '[]'),
  'extensions', coalesce((SELECT jsonb_agg(jsonb_build_object('name', extname, 'schema', schema) ORDER BY extname) FROM ext), '[]'))
$$;
CREATE OR REPLACE VIEW pgapp_bridge.catalog AS SELECT pgapp_bridge.catalog_doc() AS doc;

-- The schemas to bridge: the ones asked for (pgapp.schemas, comma-separated), or '*': every schema
-- the login can use that holds tables of its own — not pg_catalog's, pgapp's, or an extension's —
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
    AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
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
-- Reads pgapp.schemas, pgapp.reads ('replica' keeps the publication), pgapp.standin ('true': grant
-- the stand-in's bridge and replicator roles what they need on the bridged schemas), pgapp.bridge_user
-- and pgapp.replicator_user. Returns what it settled: the schemas, and whether rds can feed a replica
-- (and why not).
CREATE OR REPLACE FUNCTION pgapp_bridge.prepare() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  schemas name[] := pgapp_bridge.resolve_schemas(current_setting('pgapp.schemas'));
  replica boolean := current_setting('pgapp.reads') = 'replica';
  standin boolean := current_setting('pgapp.standin')::boolean;
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

  -- The stand-in's own roles (sql/rds-standin): read/write for the bridge, read for the replicator.
  -- Made by the master user, who owns the tables, as on RDS. A real RDS's user needs none of this.
  IF standin THEN
    EXECUTE format('GRANT USAGE ON SCHEMA pgapp_bridge TO %I', bridge);
    EXECUTE format('GRANT SELECT ON pgapp_bridge.catalog TO %I', bridge);
    EXECUTE format('GRANT EXECUTE ON FUNCTION pgapp_bridge.catalog_doc() TO %I', bridge);
    EXECUTE format('GRANT SELECT, UPDATE ON pgapp_bridge.replica_fence TO %I', bridge);
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
  -- Tables that left the bridged schemas (or lost what makes them publishable) leave the publication.
  FOR t IN SELECT pr.prrelid::regclass FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
           JOIN pg_class c ON c.oid = pr.prrelid
           WHERE p.pubname = 'pgapp' AND pr.prrelid <> 'pgapp_bridge.replica_fence'::regclass
             AND (NOT EXISTS (SELECT 1 FROM pgapp_bridge.bridged b WHERE c.relnamespace = to_regnamespace(quote_ident(b.schema_name)))
                  OR NOT (c.relreplident IN ('f', 'i') OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))))
  LOOP
    EXECUTE format('ALTER PUBLICATION pgapp DROP TABLE %s', t);
  END LOOP;
  -- Every bridged table rds can publish: with a primary key or a replica identity (once published, rds
  -- refuses UPDATE and DELETE on a table without one). The others are read through postgres_fdw.
  FOR t IN SELECT c.oid::regclass FROM pg_class c JOIN pgapp_bridge.bridged b ON c.relnamespace = to_regnamespace(quote_ident(b.schema_name))
           WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
             AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                             WHERE p.pubname = 'pgapp' AND pr.prrelid = c.oid)
  LOOP
    IF (SELECT c.relreplident IN ('f', 'i') OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
        FROM pg_class c WHERE c.oid = t) THEN
      EXECUTE format('ALTER PUBLICATION pgapp ADD TABLE %s', t);
    ELSE
      unpublishable := unpublishable || t::text;
    END IF;
  END LOOP;
  RETURN jsonb_build_object('schemas', to_jsonb(schemas), 'replica', jsonb_build_object('ok', true, 'unpublishable', to_jsonb(unpublishable)));
END $$;
REVOKE ALL ON FUNCTION pgapp_bridge.prepare(), pgapp_bridge.resolve_schemas(text), pgapp_bridge.catalog_doc() FROM PUBLIC;
