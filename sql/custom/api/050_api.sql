-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Where a table becomes an endpoint. sync_api(), called by every `dev` (and compose's setup) after the
-- bridge and the replica, publishes each table of rds's catalog in schema `api`, which PostgREST serves:
--
--   the view    api.<table>: every column, from the local replica (reads: replica, by default or per
--               table, for a table rds publishes; what its replica leaves out — rows outside its
--               "where", columns outside its "columns" — from rds: replica_source() in
--               bridge/050_replica_tables.sql) or from the foreign table (reads: fdw, and tables rds
--               cannot publish — without a primary key or replica identity). Owned by api_owner, whose user mapping
--               the bridge uses. Two bridged schemas with a table of the same name: the schema listed
--               first keeps the name, the other's is api.<schema>_<table>; "tables" in
--               pgapp.config.json can name any of them ({"kb.labels": {"name": "kb_labels"}}).
--   access      per table ("tables": {"<schema>.<table>": {"access": …}}), by default "owner" for a
--               table with the owner column ("ownerColumn", default owner_id) and "access" (default
--               "read") for the others:
--                 owner  anyone reads shared rows (no owner), web_user also its own; writes its own
--                        rows only, the owner stamped from the token (020_write_through.sql)
--                 read   web_anon and web_user read; nobody writes
--                 write  web_anon and web_user read; web_user writes every row
--                 none   not published
--               A table without a primary key is read-only whatever its access says.
--   writes      the columns a client may write: not those rds fills (identity, serial, generated,
--               a default that reads the clock or calls your functions) nor the owner column — naming
--               one is a 403. An INSTEAD OF trigger applies the owner rules and writes through to rds
--               (and, over the replica, keeps read-your-writes: 020_write_through.sql). Defaults
--               work as on rds.
--   embedding   computed relationships from rds's foreign keys (040_relationships.sql)
--
-- Your own view wins: a view api.<name> that pgapp did not make (or one you replaced — DROP VIEW and
-- CREATE VIEW in a db/custom file) is left alone from then on, and pgapp makes no relationships for it.
-- What pgapp made is in pgapp_private.generated; pgapp_private.api_tables says what each table became.
CREATE SCHEMA IF NOT EXISTS api AUTHORIZATION api_owner;
CREATE TABLE IF NOT EXISTS pgapp_private.api_tables (
  rel       text PRIMARY KEY,   -- the rds table ('desk.tickets')
  api_name  text,               -- its endpoint (NULL: not published)
  access    text NOT NULL,
  reads     text,               -- 'replica' or 'fdw'
  replica_where text,           -- reads: replica, filtered: the rows the replica holds (the others are read from rds)
  replica_omits text[],         -- reads: replica: the columns the replica leaves out (read from rds)
  key       text[],
  writable  text[],             -- the columns a client may write (empty: read-only)
  embeds    text[],             -- its to-one relationships' names
  note      text,               -- why it is read-only, not published, or left to you
  made      boolean NOT NULL DEFAULT true, -- false: api.<api_name> is your own view
  uniques   jsonb NOT NULL DEFAULT '[]',   -- its primary key, unique constraints and indexes: [[columns]]
  defaults  text[] NOT NULL DEFAULT '{}'   -- the writable columns with a default (a client may leave them out)
);
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS defaults text[] NOT NULL DEFAULT '{}';
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS made boolean NOT NULL DEFAULT true;
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS uniques jsonb NOT NULL DEFAULT '[]';
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS replica_where text;
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS replica_omits text[];
REVOKE ALL ON pgapp_private.api_tables FROM PUBLIC;
-- This file changed (a newer pgapp): whatever it made is made again.
DELETE FROM pgapp_private.sync_state WHERE step = 'api';

-- Names pgapp's own api objects use (custom/app): a table of that name gets <schema>_<name>.
CREATE OR REPLACE FUNCTION pgapp_private.reserved_api_names() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY['jobs'] $$;

-- The plan: what each catalog table becomes, from the settings pgapp.reads, pgapp.access,
-- pgapp.owner_column and pgapp.tables (a JSON object of per-table settings).
CREATE OR REPLACE FUNCTION pgapp_private.plan_api() RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  reads text := current_setting('pgapp.reads');
  default_access text := current_setting('pgapp.access');
  owner_col text := current_setting('pgapp.owner_column');
  overrides jsonb := current_setting('pgapp.tables')::jsonb;
  t record;
  cfg jsonb;
  owner jsonb;
  access text;
  vname text;
  key jsonb;
  note text;
  published boolean;
  taken text[] := pgapp_private.reserved_api_names();
  plan jsonb := '[]';
  unknown text;
BEGIN
  SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(overrides) k
   WHERE k NOT IN (SELECT rel FROM pgapp_private.catalog_tables());
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION '"tables" in pgapp.config.json names %, which rds''s bridged schemas do not hold', unknown
      USING HINT = format('Name tables as <schema>.<table>; the bridged ones are: %s.',
                          (SELECT coalesce(string_agg(rel, ', '), 'none') FROM pgapp_private.catalog_tables()));
  END IF;
  FOR t IN SELECT * FROM pgapp_private.catalog_tables() LOOP
    cfg := coalesce(overrides -> t.rel, '{}');
    SELECT c INTO owner FROM jsonb_array_elements(t.def -> 'columns') c
     WHERE c ->> 'name' = owner_col AND (c ->> 'type' IN ('text', 'uuid') OR c ->> 'type' LIKE 'character varying%');
    access := coalesce(cfg ->> 'access', CASE WHEN owner IS NOT NULL THEN 'owner' ELSE default_access END);
    IF access = 'owner' AND owner IS NULL THEN
      RAISE EXCEPTION '% has "access": "owner", but no % column of type text or uuid to hold the owner', t.rel, owner_col
        USING HINT = format('Add it on rds (ALTER TABLE %s ADD COLUMN %I text), or choose "read" or "write" for it.', t.rel, owner_col);
    END IF;
    IF access = 'none' THEN
      plan := plan || jsonb_build_object('rel', t.rel, 'access', access, 'note', 'not published ("access": "none")');
      CONTINUE;
    END IF;
    vname := cfg ->> 'name';
    IF vname IS NULL THEN
      vname := CASE WHEN t.name = ANY (taken) THEN t.schema || '_' || t.name ELSE t.name END;
    END IF;
    IF vname = ANY (taken) OR octet_length(vname) > 63 THEN
      RAISE EXCEPTION '% cannot be published as api.%: %', t.rel, vname,
        CASE WHEN octet_length(vname) > 63 THEN 'the name is longer than 63 bytes' ELSE 'another table (or pgapp''s own api) has that name' END
        USING HINT = format('Name it in pgapp.config.json: "tables": {"%s": {"name": "…"}}.', t.rel);
    END IF;
    taken := taken || vname;
    key := CASE WHEN jsonb_typeof(t.def -> 'key') = 'array' AND jsonb_array_length(t.def -> 'key') > 0 THEN t.def -> 'key' END;
    note := CASE WHEN access IN ('write', 'owner') AND key IS NULL THEN 'read-only: no primary key' END;
    -- rds publishes the tables that read the replica (and can be published): those read it.
    published := coalesce(cfg ->> 'reads', reads) = 'replica' AND (t.def ->> 'published')::boolean;
    plan := plan || jsonb_build_object(
      'rel', t.rel, 'name', vname, 'access', access, 't', t.def, 'key', coalesce(key, '[]'), 'note', note,
      'reads', CASE WHEN published THEN 'replica' ELSE 'fdw' END,
      'source', CASE WHEN published THEN pgapp_private.replica_source(t.def) ELSE pgapp_private.foreign_table(t.def) END,
      -- What the replica leaves to rds: the rows outside its filter, the columns outside its list.
      'replica_where', CASE WHEN published THEN t.def -> 'publication' ->> 'where' END,
      'replica_omits', CASE WHEN published THEN (
          SELECT coalesce(jsonb_agg(c ->> 'name'), '[]') FROM jsonb_array_elements(t.def -> 'columns') c
          WHERE NOT pgapp_private.replica_columns(t.def) @> jsonb_build_array(c)) ELSE '[]' END,
      'owner', CASE WHEN access = 'owner' THEN owner END,
      'writable', CASE WHEN access IN ('write', 'owner') AND key IS NOT NULL
                       THEN (SELECT coalesce(jsonb_agg(c ->> 'name'), '[]') FROM jsonb_array_elements(t.def -> 'columns') c
                              WHERE c ->> 'defaultOn' IS DISTINCT FROM 'rds' AND (access <> 'owner' OR c ->> 'name' <> owner_col))
                       ELSE '[]' END,
      'assigned', (SELECT coalesce(jsonb_agg(c ->> 'name'), '[]') FROM jsonb_array_elements(t.def -> 'columns') c WHERE c ->> 'defaultOn' = 'rds'));
  END LOOP;
  RETURN plan;
END $$;

-- The SQL that makes one table's view ('CREATE' or 'CREATE OR REPLACE' goes in front).
CREATE OR REPLACE FUNCTION pgapp_private.view_sql(p jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
DECLARE
  v text := format('api.%I', p ->> 'name');
  oc text := p -> 'owner' ->> 'name';
  c jsonb;
  s text;
BEGIN
  s := format('VIEW %s AS SELECT %s FROM %s', v,
              (SELECT string_agg(format('%I', c2 ->> 'name'), ', ') FROM jsonb_array_elements(p -> 't' -> 'columns') c2),
              p ->> 'source');
  -- Shared rows and the caller's own. `(SELECT current_user_id())` is a parameter postgres_fdw pushes
  -- down to rds with the filter, and the local planner uses as one.
  IF oc IS NOT NULL THEN
    s := s || format(' WHERE %I IS NULL OR %I = (SELECT rds_bridge.current_user_id())%s', oc, oc,
                     CASE WHEN p -> 'owner' ->> 'type' = 'uuid' THEN '::uuid' ELSE '' END);
  END IF;
  s := s || format(E';\nALTER VIEW %s OWNER TO api_owner', v);
  -- Writes go through an INSTEAD OF trigger, which fills no defaults itself: the view carries the
  -- defaults custom can evaluate (rds fills the others).
  FOR c IN SELECT jsonb_array_elements(p -> 't' -> 'columns') LOOP
    s := s || CASE WHEN jsonb_array_length(p -> 'writable') > 0 AND c ->> 'defaultOn' = 'custom'
                   THEN format(E';\nALTER VIEW %s ALTER COLUMN %I SET DEFAULT %s', v, c ->> 'name', c ->> 'expr')
                   ELSE format(E';\nALTER VIEW %s ALTER COLUMN %I DROP DEFAULT', v, c ->> 'name') END;
    s := s || format(E';\nCOMMENT ON COLUMN %s.%I IS %L', v, c ->> 'name', c ->> 'comment');
  END LOOP;
  s := s || format(E';\nCOMMENT ON VIEW %s IS %L', v,
                   coalesce(p -> 't' ->> 'comment', format('%s on rds', p ->> 'rel')));
  -- Least privilege, by name (a table-level REVOKE takes the column grants with it).
  s := s || format(E';\nREVOKE ALL ON %s FROM PUBLIC, web_anon, web_user;\nGRANT SELECT ON %s TO web_anon, web_user', v, v);
  IF jsonb_array_length(p -> 'writable') > 0 THEN
    s := s || format(E';\nGRANT DELETE ON %1$s TO web_user;\nGRANT INSERT (%2$s), UPDATE (%2$s) ON %1$s TO web_user', v,
                     (SELECT string_agg(format('%I', x), ', ') FROM jsonb_array_elements_text(p -> 'writable') x));
  END IF;
  RETURN s;
END $$;

-- Everything the plan wants besides the views, in the order it is made: triggers, then the
-- relationships. Each: {object, kind, tables, ddl}.
CREATE OR REPLACE FUNCTION pgapp_private.api_extras(plan jsonb, views jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  p jsonb;
  out jsonb := '[]';
  spec jsonb;
  r record;
BEGIN
  FOR p IN SELECT x FROM jsonb_array_elements(plan) x WHERE views ? (x ->> 'rel') AND jsonb_array_length(x -> 'writable') > 0 LOOP
    -- Every write goes to rds through the trigger (020_write_through.sql), with the owner rules and a
    -- reference check for each foreign key to another owner table.
    spec := jsonb_build_object(
      -- rds's name of the table (the replica's is the same): rds makes the write (pgapp_bridge.write).
      'table', pgapp_private.replica_table(p -> 't'), 'key', p -> 'key', 'assigned', p -> 'assigned',
      'fence', p ->> 'reads' = 'replica',
      'owner', CASE WHEN p ->> 'access' = 'owner' THEN jsonb_build_object('column', p -> 'owner' ->> 'name', 'type', p -> 'owner' ->> 'type') END,
      'refs', CASE WHEN p ->> 'access' <> 'owner' THEN '[]'::jsonb ELSE (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                 'columns', k -> 'columns',
                 'noun', CASE WHEN jsonb_array_length(k -> 'columns') = 1 AND k -> 'columns' ->> 0 ~ '.._id$'
                              THEN left(k -> 'columns' ->> 0, -3) ELSE k ->> 'refTable' END,
                 -- Where the check looks: where the API reads that table (its replica: no round trip to
                 -- rds; the caller's own earlier writes are there, the pre-request fence waited for
                 -- them), rds's own foreign key staying the final word.
                 'target', q ->> 'source',
                 'table', q ->> 'rel',
                 'on', CASE WHEN q ->> 'reads' = 'fdw' THEN 'rds'
                            WHEN q ->> 'replica_where' IS NOT NULL OR jsonb_array_length(q -> 'replica_omits') > 0 THEN 'replica + rds'
                            ELSE 'replica' END,
                 'refColumns', k -> 'refColumns',
                 'types', (SELECT jsonb_agg((SELECT c ->> 'type' FROM jsonb_array_elements(q -> 't' -> 'columns') c WHERE c ->> 'name' = rc)
                                            ORDER BY i) FROM jsonb_array_elements_text(k -> 'refColumns') WITH ORDINALITY AS y(rc, i)),
                 'owner', q -> 'owner' ->> 'name',
                 'ownerType', q -> 'owner' ->> 'type') ORDER BY k ->> 'name'), '[]')
        FROM jsonb_array_elements(p -> 't' -> 'constraints') k
        JOIN jsonb_array_elements(plan) q ON q ->> 'rel' = format('%s.%s', k ->> 'refSchema', k ->> 'refTable')
        WHERE k ->> 'kind' = 'f' AND q ->> 'access' = 'owner') END);
    out := out || jsonb_build_object('object', format('trigger write_through ON api.%I', p ->> 'name'), 'kind', 'trigger',
      'tables', jsonb_build_array(p ->> 'rel'),
      'ddl', format('CREATE TRIGGER write_through INSTEAD OF INSERT OR UPDATE OR DELETE ON api.%I FOR EACH ROW EXECUTE FUNCTION rds_replica.write_through(%L)',
                    p ->> 'name', spec::text));
  END LOOP;
  FOR r IN SELECT * FROM pgapp_private.plan_relationships(
             (SELECT coalesce(jsonb_agg(x), '[]') FROM jsonb_array_elements(plan) x WHERE views ? (x ->> 'rel'))) LOOP
    out := out || jsonb_build_object(
      'object', format('function api.%I(api.%I)', r.name, r.source), 'kind', 'function', 'tables', to_jsonb(r.tables),
      'to_one', r.to_one, 'name', r.name, 'source', r.source,
      'ddl', format(E'CREATE FUNCTION api.%1$I(api.%2$I) RETURNS SETOF api.%3$I%4$s LANGUAGE sql STABLE AS %5$L;\n'
                    'ALTER FUNCTION api.%1$I(api.%2$I) OWNER TO api_owner;\n'
                    'REVOKE ALL ON FUNCTION api.%1$I(api.%2$I) FROM PUBLIC;\n'
                    'GRANT EXECUTE ON FUNCTION api.%1$I(api.%2$I) TO web_anon, web_user',
                    r.name, r.source, r.target, CASE WHEN r.to_one THEN ' ROWS 1' ELSE '' END, r.body));
  END LOOP;
  RETURN out;
END $$;

CREATE OR REPLACE FUNCTION pgapp_private.sync_api() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  d jsonb := (SELECT doc FROM pgapp_private.catalog);
  plan jsonb := pgapp_private.plan_api();
  hash text := md5(d::text || plan::text);
  p jsonb;
  e jsonb;
  g pgapp_private.generated;
  obj text;
  sql text;
  views jsonb := '{}';    -- rel -> the api view pgapp keeps for it
  extras jsonb;
  wanted text[] := '{}';
  made text[] := '{}';
  yours text[] := '{}';
  notes text[] := '{}';
  existing regclass;
BEGIN
  IF d IS NULL THEN
    RAISE EXCEPTION 'custom has not read rds''s catalog yet' USING HINT = 'Run `pgapp dev`: it reads the catalog first.';
  END IF;
  -- Nothing changed since the last run, and everything made then is still there: nothing to do.
  IF hash = (SELECT s.hash FROM pgapp_private.sync_state s WHERE step = 'api')
     AND NOT EXISTS (SELECT 1 FROM pgapp_private.generated x WHERE x.kind IN ('view', 'trigger', 'function') AND NOT pgapp_private.generated_intact(x)) THEN
    RETURN jsonb_build_object('changed', false);
  END IF;

  -- The extensions whose types rds's tables use (sync_types made them): their functions callable by
  -- the API roles and the api's owner (its triggers), as on a stock server. custom revokes EXECUTE
  -- from PUBLIC by default (010_roles.sql), and PostgREST renders hstore or geometry through their
  -- casts to json, and filters with their operators.
  FOR obj IN SELECT dep.objid::regprocedure::text FROM pg_depend dep JOIN pg_extension x ON x.oid = dep.refobjid
             WHERE dep.classid = 'pg_proc'::regclass AND dep.refclassid = 'pg_extension'::regclass AND dep.deptype = 'e'
               AND x.extname IN (SELECT y ->> 'name' FROM jsonb_array_elements(d -> 'extensions') y) LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO api_owner, web_anon, web_user', obj);
  END LOOP;

  -- A generated view someone replaced is theirs now: forgotten, never touched again.
  FOR g IN SELECT * FROM pgapp_private.generated x WHERE x.kind = 'view' AND NOT pgapp_private.generated_intact(x) LOOP
    IF to_regclass(regexp_replace(g.object, '^view ', '')) IS NOT NULL THEN
      notes := notes || format('%s is your own now: pgapp leaves it as it is', regexp_replace(g.object, '^view ', ''));
    END IF;
    PERFORM pgapp_private.release(g.tables);
    DELETE FROM pgapp_private.generated WHERE object = g.object;
  END LOOP;

  -- Views. An api relation pgapp did not make is yours: left alone.
  FOR p IN SELECT x FROM jsonb_array_elements(plan) x WHERE x ? 'name' LOOP
    obj := format('view api.%I', p ->> 'name');
    existing := to_regclass(format('api.%I', p ->> 'name'));
    IF existing IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pgapp_private.generated WHERE object = obj) THEN
      yours := yours || (p ->> 'rel');
      CONTINUE;
    END IF;
    wanted := wanted || obj;
    views := views || jsonb_build_object(p ->> 'rel', p ->> 'name');
    sql := pgapp_private.view_sql(p);
    CONTINUE WHEN existing IS NOT NULL AND sql = (SELECT ddl FROM pgapp_private.generated WHERE object = obj);
    IF existing IS NOT NULL THEN
      BEGIN
        EXECUTE 'CREATE OR REPLACE ' || sql;
      EXCEPTION WHEN invalid_table_definition OR feature_not_supported OR datatype_mismatch OR dependent_objects_still_exist THEN
        -- Columns dropped, renamed or retyped: made again (with what pgapp made on top of it).
        PERFORM pgapp_private.release(ARRAY[p ->> 'rel']);
        EXECUTE 'CREATE ' || sql;
      END;
    ELSE
      EXECUTE 'CREATE ' || sql;
    END IF;
    PERFORM pgapp_private.remember(obj, 'view', ARRAY[p ->> 'rel'], sql);
    made := made || obj;
  END LOOP;

  -- Triggers and relationships, for the views pgapp keeps.
  extras := pgapp_private.api_extras(plan, views);
  FOR e IN SELECT jsonb_array_elements(extras) LOOP
    wanted := wanted || (e ->> 'object');
    CONTINUE WHEN EXISTS (SELECT 1 FROM pgapp_private.generated x WHERE x.object = e ->> 'object' AND x.ddl = e ->> 'ddl'
                          AND pgapp_private.generated_intact(x));
    -- Made again: what was there under that name (ours, or left from an earlier layout) goes first.
    PERFORM pgapp_private.drop_generated(e ->> 'object');
    EXECUTE format('DROP %s IF EXISTS %s', e ->> 'kind', regexp_replace(e ->> 'object', '^(trigger|function) ', ''));
    EXECUTE e ->> 'ddl';
    PERFORM pgapp_private.remember(e ->> 'object', e ->> 'kind', ARRAY(SELECT jsonb_array_elements_text(e -> 'tables')), e ->> 'ddl');
    made := made || (e ->> 'object');
  END LOOP;

  -- What pgapp made before and the plan no longer wants (a table gone, its access now none, a
  -- relationship renamed): dropped, relationships first.
  FOR obj IN SELECT x.object FROM pgapp_private.generated x
             WHERE x.kind IN ('function', 'trigger', 'view') AND x.object <> ALL (wanted)
             ORDER BY CASE x.kind WHEN 'function' THEN 1 WHEN 'trigger' THEN 2 ELSE 3 END LOOP
    PERFORM pgapp_private.drop_generated(obj);
  END LOOP;

  -- The API roles use the types of the columns they read (enums, domains, extension types).
  FOR obj IN SELECT DISTINCT s FROM (SELECT ty ->> 'schema' AS s FROM jsonb_array_elements(d -> 'types') ty
                                     UNION SELECT x ->> 'schema' FROM jsonb_array_elements(d -> 'extensions') x) q LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO web_anon, web_user', obj);
  END LOOP;

  DELETE FROM pgapp_private.api_tables;
  INSERT INTO pgapp_private.api_tables (rel, api_name, access, reads, replica_where, replica_omits, key, writable, embeds, note, made, uniques, defaults)
  SELECT x ->> 'rel',
         CASE WHEN views ? (x ->> 'rel') OR x ->> 'rel' = ANY (yours) THEN x ->> 'name' END,
         x ->> 'access',
         x ->> 'reads',
         x ->> 'replica_where',
         ARRAY(SELECT jsonb_array_elements_text(x -> 'replica_omits')),
         ARRAY(SELECT jsonb_array_elements_text(x -> 'key')),
         ARRAY(SELECT jsonb_array_elements_text(coalesce(x -> 'writable', '[]'))),
         ARRAY(SELECT e2 ->> 'name' FROM jsonb_array_elements(extras) e2
               WHERE (e2 ->> 'to_one')::boolean AND e2 ->> 'source' = x ->> 'name' ORDER BY e2 ->> 'name'),
         CASE WHEN x ->> 'rel' = ANY (yours) THEN format('api.%s is your own view: pgapp leaves it alone', x ->> 'name')
              ELSE x ->> 'note' END,
         NOT (x ->> 'rel' = ANY (yours)),
         (SELECT coalesce(jsonb_agg(u.cols), '[]') FROM (
            SELECT k -> 'columns' AS cols FROM jsonb_array_elements(x -> 't' -> 'constraints') k WHERE k ->> 'kind' IN ('p', 'u')
            UNION SELECT i -> 'columns' FROM jsonb_array_elements(x -> 't' -> 'indexes') i
             WHERE (i ->> 'unique')::boolean AND jsonb_typeof(i -> 'columns') = 'array') u),
         ARRAY(SELECT c ->> 'name' FROM jsonb_array_elements(x -> 't' -> 'columns') c WHERE c ->> 'defaultOn' = 'custom')
  FROM jsonb_array_elements(plan) x;

  INSERT INTO pgapp_private.sync_state AS s (step, hash) VALUES ('api', hash)
  ON CONFLICT (step) DO UPDATE SET hash = excluded.hash;
  NOTIFY pgrst, 'reload schema';
  RETURN jsonb_build_object('changed', true, 'made', to_jsonb(made), 'notes', to_jsonb(notes));
END $$;
REVOKE ALL ON FUNCTION pgapp_private.plan_api(), pgapp_private.view_sql(jsonb), pgapp_private.api_extras(jsonb, jsonb),
  pgapp_private.sync_api(), pgapp_private.reserved_api_names() FROM PUBLIC;

-- What the API roles may call besides the views: the current user (the views' filter; the pre-request
-- is granted in 020_write_through.sql).
COMMENT ON SCHEMA api IS 'pgapp: the tables of rds''s bridged schemas, served through postgres_fdw or its local replica';
GRANT USAGE ON SCHEMA api TO web_anon, web_user;
GRANT USAGE ON SCHEMA rds_bridge TO web_anon, web_user;
GRANT EXECUTE ON FUNCTION rds_bridge.current_user_id() TO web_anon, web_user;
