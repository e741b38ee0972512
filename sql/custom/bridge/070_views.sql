-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- rds's views and materialized views on custom, from rds's catalog (rds-bridge/030_catalog.sql,
-- "views"), after the tables (050_tables.sql): sync_views(), a step of every `dev`, one transaction.
-- Each is made where it reads fastest and still answers as rds's:
--   local   rds's definition, made here as it is (the tables keep rds's schemas and names, so it
--           holds as written), with rds's options (security_invoker, security_barrier, check_option).
--           It reads what its tables read: 'replica' when every table under it is a replica (local
--           speed), else 'fdw'. PostgREST follows its columns back to the tables' keys, as on rds:
--           embeds from and to it work the same.
--   rds     a materialized view (a snapshot the team refreshes on rds: read through postgres_fdw, it
--           is always rds's), or a view whose definition calls the user's functions, reads what is
--           not mirrored, or cannot be made here: a foreign table at its name, read from rds as it is.
-- A local view is api_owner's, so it reads under the caller's rules (the tables' row-level security
-- binds api_owner too, with the caller's token): a view never shows rows its tables hide from the
-- caller. Who may read or write one is sync_api's (custom/api/050_api.sql: "access", default "read").
-- A view of yours at the same name (db/custom) wins: pgapp leaves it alone from then on.

-- rds's views, each with how many views deep it is (made in that order) and the tables under it.
DROP FUNCTION IF EXISTS pgapp_private.catalog_views();
CREATE FUNCTION pgapp_private.catalog_views()
RETURNS TABLE (rel text, schema text, name text, def jsonb, depth integer, tables text[])
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  WITH RECURSIVE v AS (
    SELECT format('%s.%s', x ->> 'schema', x ->> 'name') AS rel, x AS def
    FROM pgapp_private.catalog c, jsonb_array_elements(coalesce(c.doc -> 'views', '[]')) x
  ),
  e AS (
    SELECT v.rel, format('%s.%s', r ->> 'schema', r ->> 'name') AS dep, r ->> 'kind' AS kind
    FROM v, jsonb_array_elements(v.def -> 'reads') r
  ),
  walk (rel, dep, kind, depth) AS (
    SELECT rel, dep, kind, 1 FROM e
    UNION ALL
    SELECT w.rel, e.dep, e.kind, w.depth + 1 FROM walk w JOIN e ON e.rel = w.dep WHERE w.depth < 64
  )
  SELECT v.rel, v.def ->> 'schema', v.def ->> 'name', v.def,
         coalesce((SELECT max(w.depth) FROM walk w WHERE w.rel = v.rel AND w.kind IN ('v', 'm')), 0),
         ARRAY(SELECT DISTINCT w.dep FROM walk w WHERE w.rel = v.rel AND w.kind IN ('r', 'p') ORDER BY 1)
  FROM v
$$;

-- What sync_views made of each: how it reads, the tables under it, and why it reads rds's (or is not
-- served: `note`, with made false).
CREATE TABLE IF NOT EXISTS pgapp_private.views (
  rel     text PRIMARY KEY,   -- rds's view ('public.film_list')
  kind    text NOT NULL,      -- 'view' or 'materialized view'
  reads   text,               -- 'replica', 'fdw' (local, over those tables) or 'rds' (rds's own, through postgres_fdw)
  tables  text[] NOT NULL,    -- the rds tables under it
  reads_directly text[] NOT NULL DEFAULT '{}', -- the relations its definition names (on rds)
  updatable integer NOT NULL DEFAULT 0,         -- rds's pg_relation_is_updatable bits
  made    boolean NOT NULL,
  note    text
);
REVOKE ALL ON pgapp_private.views FROM PUBLIC;

-- A view's `WITH (…)` from rds's options ('security_invoker=true', 'check_option=local').
CREATE OR REPLACE FUNCTION pgapp_private.view_options(def jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT coalesce(' WITH (' || string_agg(o, ', ') || ')', '') FROM jsonb_array_elements_text(def -> 'options') o
$$;

-- Drop the views pgapp made (objects 'view …' and 'foreign table …' of kind 'rds view' /
-- 'foreign view'), those others depend on last; a view of yours on one stops the run
-- (drop_generated), a view someone replaced is only forgotten.
CREATE OR REPLACE FUNCTION pgapp_private.drop_views(objs text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  left_ text[] := objs;
  o text;
  progress boolean;
BEGIN
  LOOP
    progress := false;
    FOREACH o IN ARRAY left_ LOOP
      -- Still read by another of these (a view over a view): that one first.
      CONTINUE WHEN EXISTS (
        SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
        WHERE d.refclassid = 'pg_class'::regclass
          AND d.refobjid = to_regclass(regexp_replace(o, '^(view|foreign table) ', ''))
          AND r.ev_class <> d.refobjid
          AND r.ev_class::regclass::text IN (SELECT regexp_replace(x, '^(view|foreign table) ', '') FROM unnest(left_) x WHERE x <> o));
      PERFORM pgapp_private.drop_generated(o);
      left_ := array_remove(left_, o);
      progress := true;
    END LOOP;
    EXIT WHEN cardinality(left_) = 0;
    IF NOT progress THEN
      -- Only a dependency cycle among them could stop here: drop_generated says which.
      PERFORM pgapp_private.drop_generated(left_[1]);
      left_ := left_[2:];
    END IF;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION pgapp_private.sync_views() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  v record;
  tbl record;
  modes jsonb := (SELECT coalesce(jsonb_object_agg(t.rel, pgapp_private.table_mode(t.def)), '{}') FROM pgapp_private.catalog_tables() t);
  views jsonb := (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.depth, x.rel), '[]') FROM pgapp_private.catalog_views() x);
  hash text := md5(views::text || modes::text);
  mode text;
  reason text;
  obj text;
  ddl text;
  made text[] := '{}';
  mine text[];
  yours text[] := '{}';
  rels text[] := '{}';
BEGIN
  -- Nothing changed since the last run, and every view made then is still there as made.
  IF hash = (SELECT s.hash FROM pgapp_private.sync_state s WHERE s.step = 'views')
     AND NOT EXISTS (SELECT 1 FROM pgapp_private.generated g WHERE g.kind IN ('rds view', 'foreign view')
                       AND NOT pgapp_private.generated_intact(g)) THEN
    RETURN jsonb_build_object('changed', false, 'views', jsonb_array_length(views));
  END IF;
  -- Anything changed: every view pgapp made goes, and all are made again in order (views are cheap,
  -- and one over another must follow it). Their access goes with them (sync_api makes it again).
  mine := ARRAY(SELECT g.object FROM pgapp_private.generated g WHERE g.kind IN ('rds view', 'foreign view'));
  FOREACH obj IN ARRAY mine LOOP
    IF NOT pgapp_private.generated_intact((SELECT g FROM pgapp_private.generated g WHERE g.object = obj)) THEN
      -- Replaced by someone (your db/custom): yours from now on, with the grants it has.
      yours := yours || regexp_replace(obj, '^(view|foreign table) ', '');
      DELETE FROM pgapp_private.generated WHERE object = 'access ' || regexp_replace(obj, '^(view|foreign table) ', '');
    ELSE
      PERFORM pgapp_private.drop_generated('access ' || regexp_replace(obj, '^(view|foreign table) ', ''));
    END IF;
  END LOOP;
  PERFORM pgapp_private.drop_views(mine);
  DELETE FROM pgapp_private.views;
  DELETE FROM pgapp_private.sync_state WHERE step = 'api';

  FOR v IN SELECT x.* FROM jsonb_to_recordset(views) AS x(rel text, schema text, name text, def jsonb, depth integer, tables text[]) LOOP
    rels := rels || v.rel;
    obj := format('%I.%I', v.schema, v.name);
    reason := NULL;
    -- Something of yours (db/custom) at its name: yours wins (served as you made it, not listed here).
    CONTINUE WHEN to_regclass(obj) IS NOT NULL;
    IF v.def ->> 'kind' = 'materialized view' THEN
      reason := 'a materialized view: read from rds, as rds last refreshed it';
    ELSIF jsonb_array_length(v.def -> 'functions') > 0 THEN
      reason := format('calls %s, which custom does not have', (SELECT string_agg(f, ', ') FROM jsonb_array_elements_text(v.def -> 'functions') f));
    ELSE
      SELECT string_agg(format('%s.%s', r ->> 'schema', r ->> 'name'), ', ') INTO reason
      FROM jsonb_array_elements(v.def -> 'reads') r
      WHERE NOT (r ->> 'kind' IN ('r', 'p') AND modes ? format('%s.%s', r ->> 'schema', r ->> 'name'))
        AND NOT (r ->> 'kind' IN ('v', 'm') AND format('%s.%s', r ->> 'schema', r ->> 'name') = ANY (rels));
      IF reason IS NOT NULL THEN
        reason := format('reads %s, which pgapp does not mirror', reason);
      END IF;
    END IF;
    IF reason IS NULL THEN
      ddl := format('CREATE VIEW %s%s AS %s', obj, pgapp_private.view_options(v.def), v.def ->> 'definition');
      BEGIN
        EXECUTE ddl;
        EXECUTE format('ALTER VIEW %s OWNER TO api_owner', obj);
        -- Under it only replica tables (and views over them): local speed.
        mode := CASE WHEN (SELECT bool_and(modes ->> t = 'replica') FROM unnest(v.tables) t) IS NOT FALSE
                      AND NOT EXISTS (SELECT 1 FROM pgapp_private.views w JOIN jsonb_array_elements(v.def -> 'reads') r
                                        ON w.rel = format('%s.%s', r ->> 'schema', r ->> 'name') WHERE w.reads IS DISTINCT FROM 'replica')
                     THEN 'replica' ELSE 'fdw' END;
        PERFORM pgapp_private.remember('view ' || obj, 'rds view', v.tables, ddl);
      EXCEPTION WHEN OTHERS THEN
        reason := format('its definition does not hold on custom (%s)', SQLERRM);
      END;
    END IF;
    IF reason IS NOT NULL THEN
      -- rds's own, through postgres_fdw: a foreign table at its name; writable only where rds's is.
      mode := 'rds';
      ddl := format('CREATE FOREIGN TABLE %s (%s) SERVER rds OPTIONS (schema_name %L, table_name %L, updatable %L)', obj,
                    (SELECT string_agg(format('%I %s', c ->> 'name', c ->> 'type'), ', ') FROM jsonb_array_elements(v.def -> 'columns') c),
                    v.schema, v.name, CASE WHEN (v.def ->> 'updatable')::int & 28 <> 0 THEN 'true' ELSE 'false' END);
      BEGIN
        EXECUTE ddl;
        EXECUTE format('ALTER FOREIGN TABLE %s OWNER TO api_owner', obj);
        PERFORM pgapp_private.remember('foreign table ' || obj, 'foreign view', v.tables, ddl);
      EXCEPTION WHEN OTHERS THEN
        INSERT INTO pgapp_private.views (rel, kind, reads, tables, made, note)
        VALUES (v.rel, v.def ->> 'kind', NULL, v.tables, false, format('%s; and custom cannot read it from rds either: %s', reason, SQLERRM));
        CONTINUE;
      END;
    END IF;
    -- Comments, as rds's (PostgREST's OpenAPI shows them).
    IF v.def ->> 'comment' IS NOT NULL THEN
      EXECUTE format('COMMENT ON %s %s IS %L', CASE mode WHEN 'rds' THEN 'FOREIGN TABLE' ELSE 'VIEW' END, obj, v.def ->> 'comment');
    END IF;
    FOR tbl IN SELECT c ->> 'name' AS col, c ->> 'comment' AS comment FROM jsonb_array_elements(v.def -> 'columns') c WHERE c ->> 'comment' IS NOT NULL LOOP
      EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', obj, tbl.col, tbl.comment);
    END LOOP;
    EXECUTE format('GRANT SELECT ON %s TO api_owner', obj);
    INSERT INTO pgapp_private.views (rel, kind, reads, tables, reads_directly, updatable, made, note)
    VALUES (v.rel, v.def ->> 'kind', mode, v.tables,
            ARRAY(SELECT format('%s.%s', r ->> 'schema', r ->> 'name') FROM jsonb_array_elements(v.def -> 'reads') r),
            coalesce((v.def ->> 'updatable')::int, 0), true, reason);
    made := made || v.rel;
  END LOOP;

  INSERT INTO pgapp_private.sync_state AS s (step, hash) VALUES ('views', hash)
  ON CONFLICT (step) DO UPDATE SET hash = excluded.hash;
  RETURN jsonb_build_object('changed', true, 'views', jsonb_array_length(views), 'made', to_jsonb(made),
                            'rds', (SELECT coalesce(jsonb_agg(w.rel ORDER BY w.rel), '[]') FROM pgapp_private.views w WHERE w.reads = 'rds'),
                            'yours', to_jsonb(yours));
END $$;
REVOKE ALL ON FUNCTION pgapp_private.catalog_views(), pgapp_private.view_options(jsonb), pgapp_private.drop_views(text[]),
  pgapp_private.sync_views() FROM PUBLIC;
