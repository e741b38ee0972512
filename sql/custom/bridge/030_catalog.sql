-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- rds's catalog on custom: everything custom builds from rds — types, foreign tables, the replica's
-- tables, the api — is made from pgapp_bridge.catalog (rds-bridge/030_catalog.sql), read over the
-- bridge, never from a list of names. What pgapp made is recorded in pgapp_private.generated, so a
-- later run changes only its own objects: an api view you replace with your own is yours from then on.
CREATE SCHEMA IF NOT EXISTS rds_bridge AUTHORIZATION api_owner;
REVOKE ALL ON SCHEMA rds_bridge FROM PUBLIC;

-- The catalog document, the read-your-writes fence and the one-statement write (every API write:
-- custom/api/020_write_through.sql), as foreign tables.
DROP FOREIGN TABLE IF EXISTS rds_bridge.catalog, rds_bridge.replica_fence, rds_bridge.writes;
CREATE FOREIGN TABLE rds_bridge.catalog (doc jsonb NOT NULL) SERVER rds OPTIONS (schema_name 'pgapp_bridge', table_name 'catalog');
CREATE FOREIGN TABLE rds_bridge.replica_fence (slot integer NOT NULL, n bigint NOT NULL)
  SERVER rds OPTIONS (schema_name 'pgapp_bridge', table_name 'replica_fence');
CREATE FOREIGN TABLE rds_bridge.writes (slot integer NOT NULL, request jsonb, result jsonb)
  SERVER rds OPTIONS (schema_name 'pgapp_bridge', table_name 'writes');
ALTER FOREIGN TABLE rds_bridge.catalog OWNER TO api_owner;
ALTER FOREIGN TABLE rds_bridge.replica_fence OWNER TO api_owner;
ALTER FOREIGN TABLE rds_bridge.writes OWNER TO api_owner;

-- The last catalog read (by sync_bridge, at the start of each `dev`): the later steps of the same
-- run read this copy, not rds again.
CREATE TABLE IF NOT EXISTS pgapp_private.catalog (
  one        boolean PRIMARY KEY DEFAULT true CHECK (one),
  doc        jsonb NOT NULL,
  read_at    timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON pgapp_private.catalog FROM PUBLIC;

-- What pgapp made from the catalog, and from which rds tables.
CREATE TABLE IF NOT EXISTS pgapp_private.generated (
  object      text PRIMARY KEY,   -- its kind and name: 'table desk.tickets', 'function desk.assignee(desk.tickets)'
  kind        text NOT NULL,      -- foreign table, table, access (grants and policies), function, trigger,
                                  -- rds view (rds's view made here), foreign view (rds's read as it is),
                                  -- rds function (rds's function, or one calling it), function access
  tables      text[] NOT NULL,    -- the rds tables it is made from ('desk.tickets')
  ddl         text NOT NULL,      -- what made it: the same again means there is nothing to do
  fingerprint text                -- a view's definition as made: another one means it is no longer ours
);
REVOKE ALL ON pgapp_private.generated FROM PUBLIC;

-- A step's last input (the catalog and settings it worked from): the same again, and what it made
-- still there, means there is nothing to do.
CREATE TABLE IF NOT EXISTS pgapp_private.sync_state (step text PRIMARY KEY, hash text NOT NULL);
REVOKE ALL ON pgapp_private.sync_state FROM PUBLIC;

-- The schema holding rds schema s's foreign tables on custom. (The replica's tables and the types
-- keep rds's own schema names: logical replication and the types' qualified names need them.)
CREATE OR REPLACE FUNCTION pgapp_private.foreign_schema(s text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$ SELECT 'rds_' || s $$;

-- The catalog's tables, one row each, as the sync functions read them. (Dropped first: a newer pgapp
-- may return other columns, which CREATE OR REPLACE cannot change.)
DROP FUNCTION IF EXISTS pgapp_private.catalog_tables();
CREATE FUNCTION pgapp_private.catalog_tables()
RETURNS TABLE (rel text, schema text, name text, def jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT format('%s.%s', t ->> 'schema', t ->> 'name'), t ->> 'schema', t ->> 'name', t
  FROM pgapp_private.catalog c, jsonb_array_elements(c.doc -> 'tables') t
$$;

-- A table's foreign table on custom, and its local replica table.
CREATE OR REPLACE FUNCTION pgapp_private.foreign_table(t jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT format('%I.%I', pgapp_private.foreign_schema(t ->> 'schema'), t ->> 'name')
$$;
CREATE OR REPLACE FUNCTION pgapp_private.replica_table(t jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$ SELECT format('%I.%I', t ->> 'schema', t ->> 'name') $$;

-- Does a generated object still exist, as pgapp made it?
CREATE OR REPLACE FUNCTION pgapp_private.generated_intact(g pgapp_private.generated) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  ident text := regexp_replace(g.object, '^(foreign table|replica table|table|view|function|trigger|access function|access) ', '');
BEGIN
  CASE g.kind
    WHEN 'function', 'function access' THEN RETURN to_regprocedure(ident) IS NOT NULL;
    -- rds's function made here (bridge/080_functions.sql), as made.
    WHEN 'rds function' THEN
      RETURN to_regprocedure(ident) IS NOT NULL AND md5(pg_get_functiondef(to_regprocedure(ident))) IS NOT DISTINCT FROM g.fingerprint;
    WHEN 'trigger' THEN
      RETURN EXISTS (SELECT 1 FROM pg_trigger tg WHERE tg.tgrelid = to_regclass(split_part(ident, ' ON ', 2))
                     AND tg.tgname = trim(both '"' from split_part(ident, ' ON ', 1)));
    WHEN 'view', 'rds view' THEN
      RETURN to_regclass(ident) IS NOT NULL AND md5(pg_get_viewdef(to_regclass(ident))) IS NOT DISTINCT FROM g.fingerprint;
    -- A table's access: the table is there, and (for "owner") so are pgapp's policies.
    WHEN 'access' THEN
      RETURN to_regclass(ident) IS NOT NULL
        AND (g.ddl NOT LIKE '%CREATE POLICY%'
             OR (SELECT count(*) FROM pg_policy pol WHERE pol.polrelid = to_regclass(ident) AND pol.polname::text LIKE 'pgapp\_%') = 4);
    ELSE RETURN to_regclass(ident) IS NOT NULL;
  END CASE;
END $$;

-- Drop a generated object and forget it. A view, function or table something else still depends on
-- (your own view over it, say) stops the run with what depends on it: nothing of yours is dropped.
CREATE OR REPLACE FUNCTION pgapp_private.drop_generated(obj text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  g pgapp_private.generated;
  ident text;
BEGIN
  SELECT * INTO g FROM pgapp_private.generated WHERE object = obj;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  ident := regexp_replace(g.object, '^(foreign table|replica table|table|view|function|trigger|access function|access) ', '');
  BEGIN
    CASE g.kind
      WHEN 'function' THEN EXECUTE format('DROP FUNCTION IF EXISTS %s', ident);
      -- One someone replaced is theirs: only forgotten.
      WHEN 'rds function' THEN
        IF pgapp_private.generated_intact(g) THEN
          EXECUTE format('DROP FUNCTION IF EXISTS %s', ident);
        END IF;
      WHEN 'function access' THEN
        IF to_regprocedure(ident) IS NOT NULL THEN
          EXECUTE format('REVOKE ALL ON FUNCTION %s FROM web_anon, web_user', ident);
        END IF;
      WHEN 'trigger' THEN
        IF to_regclass(split_part(ident, ' ON ', 2)) IS NOT NULL THEN
          EXECUTE format('DROP TRIGGER IF EXISTS %s', ident);
        END IF;
      -- A view someone replaced is theirs: only forgotten.
      WHEN 'view', 'rds view' THEN
        IF pgapp_private.generated_intact(g) THEN
          EXECUTE format('DROP VIEW IF EXISTS %s', ident);
        END IF;
      -- (A 'foreign view': rds's view read as it is, bridge/070_views.sql.)
      WHEN 'foreign table', 'foreign view' THEN EXECUTE format('DROP FOREIGN TABLE IF EXISTS %s', ident);
      WHEN 'replica table', 'table' THEN EXECUTE format('DROP TABLE IF EXISTS %s', ident);
      -- A table no longer served as it was: pgapp's policies and the API roles' grants go.
      WHEN 'access' THEN
        IF to_regclass(ident) IS NOT NULL THEN
          EXECUTE format('REVOKE ALL ON %s FROM web_anon, web_user', ident);
          -- (and its partitions', where it is partitioned here)
          FOR ident IN SELECT format('%I ON %s', pol.polname, pol.polrelid::regclass)
                       FROM pg_policy pol
                       WHERE pol.polrelid IN (SELECT to_regclass(regexp_replace(g.object, '^access ', ''))
                                              UNION ALL SELECT pt.relid FROM pg_partition_tree(to_regclass(regexp_replace(g.object, '^access ', ''))) pt)
                         AND pol.polname::text LIKE 'pgapp\_%' LOOP
            EXECUTE 'DROP POLICY ' || ident;
          END LOOP;
        END IF;
    END CASE;
  EXCEPTION WHEN dependent_objects_still_exist THEN
    DECLARE
      detail text;
    BEGIN
      GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
      RAISE EXCEPTION 'pgapp must re-make % (its table changed on rds), but something else depends on it', ident
        USING DETAIL = detail,
              HINT = 'Drop that object at the start of the SQL file that makes it (DROP … IF EXISTS) and make it again after; '
                     'then run `pgapp dev` again. Nothing was changed.';
    END;
  END;
  DELETE FROM pgapp_private.generated WHERE object = obj;
END $$;

-- Before a table's foreign or replica table changes in a way its api objects cannot follow (a column
-- dropped or retyped, the table gone): drop what the api made from those tables; sync_api makes them again.
CREATE OR REPLACE FUNCTION pgapp_private.release(rels text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  o text;
BEGIN
  -- rds's functions that take or return their rows, then rds's views over them (bridge/080_functions.sql
  -- and 070_views.sql make them again: all of them, in order).
  FOR o IN SELECT object FROM pgapp_private.generated WHERE tables && rels AND kind = 'rds function' LOOP
    PERFORM pgapp_private.drop_generated(o);
  END LOOP;
  DELETE FROM pgapp_private.sync_state WHERE step = 'functions';
  PERFORM pgapp_private.drop_views(ARRAY(SELECT object FROM pgapp_private.generated
                                         WHERE tables && rels AND kind IN ('rds view', 'foreign view')));
  DELETE FROM pgapp_private.sync_state WHERE step = 'views';
  FOR o IN SELECT object FROM pgapp_private.generated
           WHERE tables && rels AND kind IN ('function', 'trigger', 'view', 'access', 'function access')
           ORDER BY CASE kind WHEN 'function' THEN 1 WHEN 'trigger' THEN 2 WHEN 'view' THEN 3 ELSE 4 END, object LOOP
    PERFORM pgapp_private.drop_generated(o);
  END LOOP;
  -- sync_api makes them again, whatever its last input was.
  DELETE FROM pgapp_private.sync_state WHERE step = 'api';
END $$;

-- Record a generated object as made by `ddl`.
CREATE OR REPLACE FUNCTION pgapp_private.remember(obj text, kind text, rels text[], ddl text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  fp text;
BEGIN
  IF kind IN ('view', 'rds view') THEN
    fp := md5(pg_get_viewdef(regexp_replace(obj, '^view ', '')::regclass));
  ELSIF kind = 'rds function' THEN
    fp := md5(pg_get_functiondef(regexp_replace(obj, '^function ', '')::regprocedure));
  END IF;
  INSERT INTO pgapp_private.generated AS g (object, kind, tables, ddl, fingerprint) VALUES (obj, kind, rels, ddl, fp)
  ON CONFLICT (object) DO UPDATE SET kind = excluded.kind, tables = excluded.tables, ddl = excluded.ddl, fingerprint = excluded.fingerprint;
END $$;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgapp_private FROM PUBLIC;
