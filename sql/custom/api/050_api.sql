-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- What each table of rds serves. PostgREST serves rds's schemas, under rds's names (one profile each,
-- the first the default: `Accept-Profile: kb`), from custom, where every table of rds is a table
-- with rds's name, columns, keys and foreign keys (bridge/050_tables.sql): it answers as PostgREST
-- pointed at rds itself would. sync_api(), called by every `dev` (and compose's setup) after the
-- tables, views and functions, gives each its access (as 045_access.sql writes it: rds's views and
-- functions too), its writes and pgapp's extra embed names:
--
--   access      per table ("tables": {"<schema>.<table>": {"access": …}}), by default "owner" for a
--               table with the owner column ("ownerColumn", default owner_id) and "access" (default
--               "read") for the others:
--                 owner  anyone reads shared rows (no owner), web_user also its own; writes its own
--                        rows only, the owner stamped from the token — row-level security on the table,
--                        and a reference to another owner table must name a row the caller can see.
--                        api_owner, whose functions and views run for a request (the example's
--                        /deal_scores, its cache), is bound by the same rules: the caller's token's.
--                 read   web_anon and web_user read; nobody writes
--                 write  web_anon and web_user read; web_user writes every row
--               A client writes the columns rds does not fill: ids, generated columns and times
--               are rds's (naming one: 401/403, as a column it may not write).
--                 none   served to nobody (the table is there, with no grant: PostgREST refuses it)
--               Grants by name, never ON ALL TABLES: a re-applied file never widens anyone's rights.
--   writes      every write goes to rds (020_write_through.sql): the triggers are on every table,
--               so your own SQL on custom writes through to rds as the API does.
--   embedding   PostgREST's own, from the foreign keys; and pgapp's extra names (040_relationships.sql)
--   profiles    PostgREST's db-schemas: rds's bridged schemas, in order (authenticator's pgrst.db_schemas,
--               read by PostgREST at start and on NOTIFY pgrst, 'reload config')
--
-- What pgapp made is in pgapp_private.generated; pgapp_private.api_tables says what each table became.
CREATE TABLE IF NOT EXISTS pgapp_private.api_tables (
  rel       text PRIMARY KEY,   -- the rds table ('desk.tickets')
  api_name  text,               -- its endpoint (NULL: not served); its profile is its schema
  access    text NOT NULL,
  reads     text,               -- 'replica' or 'fdw'
  replica_where text,           -- (an earlier pgapp's: a replica's row filter)
  replica_omits text[],         -- (an earlier pgapp's: the columns a replica left out)
  key       text[],
  writable  text[],             -- the columns a client may write (empty: read-only)
  embeds    text[],             -- its to-one relationships, each by a name PostgREST embeds it by
  note      text,               -- why it is read-only or not served
  made      boolean NOT NULL DEFAULT true,
  uniques   jsonb NOT NULL DEFAULT '[]',   -- its primary key, unique constraints and indexes: [[columns]]
  defaults  text[] NOT NULL DEFAULT '{}'   -- the writable columns with a default (a client may leave them out)
);
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS defaults text[] NOT NULL DEFAULT '{}';
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS made boolean NOT NULL DEFAULT true;
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS uniques jsonb NOT NULL DEFAULT '[]';
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS replica_where text;
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS replica_omits text[];
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS schema text;     -- its profile
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS assigned text[]; -- the columns rds fills when a write leaves them out
ALTER TABLE pgapp_private.api_tables ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'table'; -- table, view, materialized view
REVOKE ALL ON pgapp_private.api_tables FROM PUBLIC;
-- What rds's bridged schemas hold besides their tables, which PostgREST on rds would serve and pgapp
-- does not: `dev` and `status` list each, with why.
CREATE TABLE IF NOT EXISTS pgapp_private.api_unserved (
  schema text NOT NULL,
  name   text NOT NULL,     -- a relation's name, or a function's with its arguments
  kind   text NOT NULL,     -- view, materialized view, foreign table, partition, function, procedure
  why    text NOT NULL
);
REVOKE ALL ON pgapp_private.api_unserved FROM PUBLIC;
-- This file changed (a newer pgapp): whatever it made is made again.
DELETE FROM pgapp_private.sync_state WHERE step = 'api';
DROP FUNCTION IF EXISTS pgapp_private.reserved_api_names(), pgapp_private.view_sql(jsonb);

-- The plan: what each catalog table gets, from the settings pgapp.access, pgapp.owner_column and
-- pgapp.tables (a JSON object of per-table settings).
CREATE OR REPLACE FUNCTION pgapp_private.plan_api() RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  default_access text := current_setting('pgapp.access');
  owner_col text := current_setting('pgapp.owner_column');
  overrides jsonb := current_setting('pgapp.tables')::jsonb;
  t record;
  cfg jsonb;
  owner jsonb;
  access text;
  key jsonb;
  plan jsonb := '[]';
  unknown text;
BEGIN
  SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(overrides) k
   WHERE k NOT IN (SELECT rel FROM pgapp_private.catalog_tables() UNION ALL SELECT rel FROM pgapp_private.catalog_views()
                   UNION ALL SELECT rel FROM pgapp_private.catalog_functions());
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION '"tables" in pgapp.config.json names %, which rds''s bridged schemas do not hold', unknown
      USING HINT = format('Name tables, views and functions as <schema>.<name>; the bridged ones are: %s.',
                          (SELECT coalesce(string_agg(DISTINCT rel, ', '), 'none')
                             FROM (SELECT rel FROM pgapp_private.catalog_tables() UNION ALL SELECT rel FROM pgapp_private.catalog_views()
                                   UNION ALL SELECT rel FROM pgapp_private.catalog_functions()) x));
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
    -- Its primary key; a partitioned table without one, the key each of its partitions has (rds's
    -- writes name a row by it).
    key := CASE WHEN jsonb_typeof(t.def -> 'key') = 'array' THEN t.def -> 'key'
                WHEN jsonb_typeof(t.def -> 'leafKey') = 'array' THEN t.def -> 'leafKey' ELSE '[]' END;
    plan := plan || jsonb_build_object(
      'rel', t.rel, 'st', pgapp_private.replica_table(t.def), 'name', t.name, 'schema', t.schema, 'access', access, 't', t.def, 'key', key,
      'note', CASE WHEN access = 'none' THEN pgapp_private.access_note(access)
                   WHEN access IN ('write', 'owner') AND jsonb_array_length(key) = 0 AND pgapp_private.table_mode(t.def) = 'replica'
                   THEN 'no primary key: inserts only' END,
      'reads', pgapp_private.table_mode(t.def),
      'owner', CASE WHEN access = 'owner' THEN owner END,
      -- What a client may write: not what rds fills (identity, serial, generated, the clock, your
      -- functions: ids and times come from rds) nor the owner (it comes from the token).
      'writable', CASE WHEN access IN ('write', 'owner')
                       THEN (SELECT coalesce(jsonb_agg(c ->> 'name'), '[]') FROM jsonb_array_elements(t.def -> 'columns') c
                              WHERE c ->> 'defaultOn' IS DISTINCT FROM 'rds' AND (access <> 'owner' OR c ->> 'name' <> owner_col))
                       ELSE '[]' END,
      'assigned', (SELECT coalesce(jsonb_agg(c ->> 'name'), '[]') FROM jsonb_array_elements(t.def -> 'columns') c WHERE c ->> 'defaultOn' = 'rds'));
  END LOOP;
  RETURN plan;
END $$;


-- Everything the plan wants besides the access: the write triggers (every table), then pgapp's extra
-- embed names. Each: {object, kind, tables, ddl}.
CREATE OR REPLACE FUNCTION pgapp_private.api_extras(plan jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  p jsonb;
  out jsonb := '[]';
  spec jsonb;
  r record;
  fn text;
BEGIN
  FOR p IN SELECT jsonb_array_elements(plan) LOOP
    spec := jsonb_build_object(
      -- rds's name of the table (the same here): rds makes the write (pgapp_bridge.write).
      'table', p ->> 'st', 'key', p -> 'key', 'assigned', p -> 'assigned', 'fence', p ->> 'reads' = 'replica',
      'owner', CASE WHEN p ->> 'access' = 'owner' THEN jsonb_build_object('column', p -> 'owner' ->> 'name', 'type', p -> 'owner' ->> 'type') END);
    out := out || jsonb_build_object('object', format('trigger pgapp_write ON %s', p ->> 'st'), 'kind', 'trigger',
      'tables', jsonb_build_array(p ->> 'rel'),
      'ddl', format('CREATE TRIGGER pgapp_write BEFORE INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION rds_replica.write_through(%L)',
                    p ->> 'st', spec::text));
    out := out || jsonb_build_object('object', format('trigger pgapp_forget ON %s', p ->> 'st'), 'kind', 'trigger',
      'tables', jsonb_build_array(p ->> 'rel'),
      'ddl', format('CREATE TRIGGER pgapp_forget AFTER INSERT ON %s FOR EACH ROW EXECUTE FUNCTION rds_replica.forget_insert(%L)',
                    p ->> 'st', jsonb_build_object('key', p -> 'key')::text));
  END LOOP;
  FOR r IN SELECT * FROM pgapp_private.plan_relationships(plan) LOOP
    -- The function sits in the source table's schema (r.source is the table's quoted name).
    fn := format('%I.%I', (parse_ident(r.source))[1], r.name);
    out := out || jsonb_build_object(
      'object', format('function %s(%s)', fn, r.source), 'kind', 'function',
      'tables', to_jsonb(r.tables), 'name', r.name, 'source', r.source,
      'ddl', format(E'CREATE FUNCTION %1$s(%2$s) RETURNS SETOF %3$s ROWS 1 LANGUAGE sql STABLE AS %4$L;\n'
                    'ALTER FUNCTION %1$s(%2$s) OWNER TO api_owner;\n'
                    'REVOKE ALL ON FUNCTION %1$s(%2$s) FROM PUBLIC;\n'
                    'GRANT EXECUTE ON FUNCTION %1$s(%2$s) TO web_anon, web_user',
                    fn, r.source, r.target, r.body));
  END LOOP;
  RETURN out;
END $$;






CREATE OR REPLACE FUNCTION pgapp_private.sync_api() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  d jsonb := (SELECT doc FROM pgapp_private.catalog);
  plan jsonb := pgapp_private.plan_api();
  vplan jsonb := pgapp_private.plan_views(plan);
  fplan jsonb := pgapp_private.plan_functions();
  hash text := md5(d::text || plan::text || vplan::text || fplan::text);
  owners jsonb;
  p jsonb;
  e jsonb;
  c jsonb;
  obj text;
  sql text;
  expr text;
  extras jsonb;
  wanted text[] := '{}';
  made text[] := '{}';
  profiles text;
BEGIN
  IF d IS NULL THEN
    RAISE EXCEPTION 'custom has not read rds''s catalog yet' USING HINT = 'Run `pgapp dev`: it reads the catalog first.';
  END IF;
  -- Nothing changed since the last run, and everything made then is still there: nothing to do.
  IF hash = (SELECT s.hash FROM pgapp_private.sync_state s WHERE step = 'api')
     AND NOT EXISTS (SELECT 1 FROM pgapp_private.generated x WHERE x.kind IN ('access', 'trigger', 'function') AND NOT pgapp_private.generated_intact(x)) THEN
    RETURN jsonb_build_object('changed', false);
  END IF;
  owners := (SELECT coalesce(jsonb_agg(x ->> 'rel'), '[]') FROM jsonb_array_elements(plan) x WHERE x ->> 'access' = 'owner');

  -- The extensions whose types rds's tables use (sync_types made them): their functions callable by
  -- the API roles and the api's owner (its triggers), as on a stock server. custom revokes EXECUTE
  -- from PUBLIC by default (010_roles.sql), and PostgREST renders hstore or geometry through their
  -- casts to json, and filters with their operators.
  FOR obj IN SELECT dep.objid::regprocedure::text FROM pg_depend dep JOIN pg_extension x ON x.oid = dep.refobjid
             WHERE dep.classid = 'pg_proc'::regclass AND dep.refclassid = 'pg_extension'::regclass AND dep.deptype = 'e'
               AND x.extname IN (SELECT y ->> 'name' FROM jsonb_array_elements(d -> 'extensions') y) LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO api_owner, web_anon, web_user', obj);
  END LOOP;

  -- The API roles reach rds's schemas, and use the types of the columns they read (enums, domains,
  -- extension types).
  FOR obj IN SELECT DISTINCT s FROM (SELECT jsonb_array_elements_text(d -> 'schemas') s
                                     UNION SELECT ty ->> 'schema' FROM jsonb_array_elements(d -> 'types') ty
                                     UNION SELECT x ->> 'schema' FROM jsonb_array_elements(d -> 'extensions') x) q LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO web_anon, web_user, api_owner', obj);
  END LOOP;
  -- Your own endpoints beside rds's tables (views, functions in db/custom) may be api_owner's.
  FOR obj IN SELECT jsonb_array_elements_text(d -> 'schemas') LOOP
    EXECUTE format('GRANT CREATE ON SCHEMA %I TO api_owner', obj);
  END LOOP;

  FOR p IN SELECT x || jsonb_build_object('owners', owners) FROM jsonb_array_elements(plan) x LOOP
    -- Defaults custom can evaluate, as rds's: what PostgREST shows, and `Prefer: missing=default` uses.
    FOR c IN SELECT x FROM jsonb_array_elements(p -> 't' -> 'columns') x
             WHERE NOT (p ->> 'reads' = 'replica' AND x ->> 'generated' IS NOT DISTINCT FROM 's')
               AND x ->> 'name' IS DISTINCT FROM p -> 'owner' ->> 'name' LOOP
      expr := CASE WHEN c ->> 'defaultOn' = 'custom' THEN c ->> 'expr' END;
      IF expr IS DISTINCT FROM (SELECT pg_get_expr(ad.adbin, ad.adrelid) FROM pg_attrdef ad JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
                                WHERE ad.adrelid = (p ->> 'st')::regclass AND a.attname = c ->> 'name') THEN
        EXECUTE CASE WHEN expr IS NULL THEN format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', p ->> 'st', c ->> 'name')
                     ELSE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT %s', p ->> 'st', c ->> 'name', expr) END;
      END IF;
    END LOOP;
    -- The access, made again when it changed: pgapp's policies and grants replaced, the owner
    -- column's default and row-level security as the access says.
    obj := format('access %s', p ->> 'st');
    sql := array_to_string(pgapp_private.access_sql(p), E';\n');
    wanted := wanted || obj;
    CONTINUE WHEN sql = (SELECT g.ddl FROM pgapp_private.generated g WHERE g.object = obj);
    -- (its partitions' too)
    FOR e IN SELECT jsonb_build_array(pol.polname::text, pol.polrelid::regclass::text) FROM pg_policy pol
             WHERE pol.polrelid IN (SELECT (p ->> 'st')::regclass UNION ALL SELECT pt.relid FROM pg_partition_tree((p ->> 'st')::regclass) pt)
               AND pol.polname::text LIKE 'pgapp\_%' LOOP
      EXECUTE format('DROP POLICY %I ON %s', e ->> 0, e ->> 1);
    END LOOP;
    IF p ->> 'access' <> 'owner' AND EXISTS (SELECT 1 FROM pgapp_private.generated g WHERE g.object = obj AND g.ddl LIKE '%ENABLE ROW LEVEL SECURITY%') THEN
      EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', p ->> 'st');
    END IF;
    EXECUTE sql;
    PERFORM pgapp_private.remember(obj, 'access', ARRAY[p ->> 'rel'], sql);
    made := made || obj;
  END LOOP;

  -- Who may read, write or call rds's views and functions (bridge/070_views.sql, 080_functions.sql
  -- made them), made again when it changed.
  FOR e IN SELECT jsonb_build_object('object', format('access %s', v ->> 'st'), 'kind', 'access',
                                     'tables', (SELECT to_jsonb(w.tables) FROM pgapp_private.views w WHERE w.rel = v ->> 'rel'),
                                     'ddl', array_to_string(pgapp_private.view_access_sql(v), E';\n'))
           FROM jsonb_array_elements(vplan) v
           UNION ALL
           SELECT jsonb_build_object('object', format('access function %s', f ->> 'callAs'), 'kind', 'function access',
                                     'tables', f -> 'tables', 'ddl', array_to_string(pgapp_private.function_access_sql(f), E';\n'))
           FROM jsonb_array_elements(fplan) f LOOP
    wanted := wanted || (e ->> 'object');
    CONTINUE WHEN e ->> 'ddl' = (SELECT g.ddl FROM pgapp_private.generated g WHERE g.object = e ->> 'object');
    EXECUTE e ->> 'ddl';
    PERFORM pgapp_private.remember(e ->> 'object', e ->> 'kind',
                                   ARRAY(SELECT jsonb_array_elements_text(coalesce(e -> 'tables', '[]'))), e ->> 'ddl');
    made := made || (e ->> 'object');
  END LOOP;

  -- Triggers and relationships.
  extras := pgapp_private.api_extras(plan);
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

  -- What pgapp made before and the plan no longer wants (a relationship renamed, an earlier pgapp's
  -- api views and their triggers): dropped, functions first.
  FOR obj IN SELECT x.object FROM pgapp_private.generated x
             WHERE x.kind IN ('function', 'trigger', 'view', 'access', 'function access') AND x.object <> ALL (wanted)
             ORDER BY CASE x.kind WHEN 'function' THEN 1 WHEN 'trigger' THEN 2 WHEN 'view' THEN 3 ELSE 4 END LOOP
    PERFORM pgapp_private.drop_generated(obj);
  END LOOP;

  DELETE FROM pgapp_private.api_tables;
  INSERT INTO pgapp_private.api_tables (rel, schema, api_name, access, reads, key, writable, assigned, embeds, note, made, uniques, defaults)
  SELECT x ->> 'rel',
         x ->> 'schema',
         CASE WHEN x ->> 'access' <> 'none' THEN x ->> 'name' END,
         x ->> 'access',
         x ->> 'reads',
         ARRAY(SELECT jsonb_array_elements_text(x -> 'key')),
         ARRAY(SELECT jsonb_array_elements_text(x -> 'writable')),
         ARRAY(SELECT jsonb_array_elements_text(x -> 'assigned')),
         -- Each to-one relationship by a name PostgREST embeds it by: pgapp's, else the column.
         ARRAY(SELECT coalesce((SELECT e2 ->> 'name' FROM jsonb_array_elements(extras) e2 WHERE e2 ->> 'kind' = 'function'
                                  AND e2 ->> 'source' = x ->> 'st' AND (e2 -> 'tables') ? format('%s.%s', k ->> 'refSchema', k ->> 'refTable')
                                  AND e2 ->> 'name' = left(k -> 'columns' ->> 0, -3) LIMIT 1),
                               CASE WHEN jsonb_array_length(k -> 'columns') = 1 THEN k -> 'columns' ->> 0 ELSE k ->> 'name' END)
               FROM jsonb_array_elements(x -> 't' -> 'constraints') k
               WHERE k ->> 'kind' = 'f' AND (SELECT count(*) FROM jsonb_array_elements(plan) y
                                             WHERE y ->> 'rel' = format('%s.%s', k ->> 'refSchema', k ->> 'refTable')) > 0
               ORDER BY 1),
         x ->> 'note',
         true,
         (SELECT coalesce(jsonb_agg(u.cols), '[]') FROM (
            SELECT k -> 'columns' AS cols FROM jsonb_array_elements(x -> 't' -> 'constraints') k WHERE k ->> 'kind' IN ('p', 'u')
            UNION SELECT i -> 'columns' FROM jsonb_array_elements(x -> 't' -> 'indexes') i
             WHERE (i ->> 'unique')::boolean AND jsonb_typeof(i -> 'columns') = 'array') u),
         ARRAY(SELECT c2 ->> 'name' FROM jsonb_array_elements(x -> 't' -> 'columns') c2 WHERE c2 ->> 'defaultOn' = 'custom')
  FROM jsonb_array_elements(plan) x;
  -- rds's views: reads 'replica' or 'fdw' (made here from rds's definition) or 'rds' (rds's own).
  INSERT INTO pgapp_private.api_tables (rel, schema, api_name, access, reads, key, writable, assigned, embeds, note, made, uniques, defaults, kind)
  SELECT x ->> 'rel', x ->> 'schema', CASE WHEN x ->> 'access' <> 'none' THEN x ->> 'name' END, x ->> 'access', x ->> 'reads',
         '{}', CASE WHEN x ->> 'access' = 'write'
                    THEN ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = (x ->> 'st')::regclass AND a.attnum > 0 AND NOT a.attisdropped
                               ORDER BY a.attnum) ELSE '{}' END,
         '{}', '{}', coalesce(x ->> 'note', CASE WHEN x ->> 'reads' = 'rds' THEN (SELECT w.note FROM pgapp_private.views w WHERE w.rel = x ->> 'rel') END),
         true, '[]', '{}', x ->> 'kind'
  FROM jsonb_array_elements(vplan) x;

  DELETE FROM pgapp_private.api_unserved;
  INSERT INTO pgapp_private.api_unserved (schema, name, kind, why)
  SELECT u ->> 'schema', u ->> 'name', u ->> 'kind',
         CASE u ->> 'kind'
           WHEN 'procedure' THEN 'PostgREST calls functions, not procedures (on rds too: 404)'
           WHEN 'partition' THEN 'its partitioned table reads through postgres_fdw (keyless, or "reads": "fdw"): pgapp serves that table, not each partition; over the replica each is an endpoint too'
           WHEN 'foreign table' THEN 'a foreign table on rds: pgapp does not bridge what rds itself reaches elsewhere'
           ELSE format('pgapp serves tables; a %s is not served (not yet)', u ->> 'kind') END
  FROM jsonb_array_elements(coalesce(d -> 'unserved', '[]')) u
  -- A replica's partitions are served (each an endpoint, as on rds).
  WHERE NOT (u ->> 'kind' = 'partition' AND EXISTS (
    SELECT 1 FROM jsonb_array_elements(plan) x, jsonb_array_elements(coalesce(nullif(x -> 't' -> 'partitions', 'null'), '[]')) y
    WHERE pgapp_private.partitioned_here(x -> 't', x ->> 'reads') AND y ->> 'schema' = u ->> 'schema' AND y ->> 'name' = u ->> 'name'));
  INSERT INTO pgapp_private.api_unserved (schema, name, kind, why)
  SELECT split_part(w.rel, '.', 1), substr(w.rel, length(split_part(w.rel, '.', 1)) + 2), w.kind, w.note
  FROM pgapp_private.views w WHERE NOT w.made;
  -- rds's functions custom cannot declare, and those served to nobody.
  INSERT INTO pgapp_private.api_unserved (schema, name, kind, why)
  SELECT split_part(x.rel, '.', 1), substr(x.call_as, length(split_part(x.call_as, '.', 1)) + 2), 'function', x.note
  FROM pgapp_private.functions x WHERE NOT x.made
  UNION ALL
  SELECT split_part(f ->> 'rel', '.', 1), substr(f ->> 'callAs', length(split_part(f ->> 'callAs', '.', 1)) + 2), 'function', f ->> 'note'
  FROM jsonb_array_elements(fplan) f WHERE f ->> 'access' = 'none';

  -- PostgREST's profiles: rds's schemas, in order (the first is the default).
  profiles := (SELECT string_agg(s, ', ') FROM jsonb_array_elements_text(d -> 'schemas') s);
  IF profiles IS NOT NULL AND profiles IS DISTINCT FROM
     (SELECT substr(c3, length('pgrst.db_schemas=') + 1) FROM pg_db_role_setting rs, unnest(rs.setconfig) c3
       WHERE rs.setrole = 'authenticator'::regrole AND rs.setdatabase = 0 AND c3 LIKE 'pgrst.db\_schemas=%') THEN
    EXECUTE format('ALTER ROLE authenticator SET pgrst.db_schemas = %L', profiles);
  END IF;

  INSERT INTO pgapp_private.sync_state AS s (step, hash) VALUES ('api', hash)
  ON CONFLICT (step) DO UPDATE SET hash = excluded.hash;
  NOTIFY pgrst, 'reload config';
  NOTIFY pgrst, 'reload schema';
  RETURN jsonb_build_object('changed', true, 'made', to_jsonb(made), 'notes', '[]'::jsonb);
END $$;
REVOKE ALL ON FUNCTION pgapp_private.plan_api(), pgapp_private.api_extras(jsonb),
  pgapp_private.sync_api() FROM PUBLIC;

-- What the API roles may call: the current user, and the owner a write stamps (the tables' row-level
-- security and owner columns; the pre-request is granted in 020_write_through.sql).
GRANT USAGE ON SCHEMA rds_bridge TO web_anon, web_user;
GRANT EXECUTE ON FUNCTION rds_bridge.current_user_id(), rds_bridge.owner_of_write() TO web_anon, web_user;
