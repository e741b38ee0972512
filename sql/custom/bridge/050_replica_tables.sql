-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- The replica: local tables rds's publication pgapp feeds (src/stack/replica.ts manages the
-- subscription), one per table that reads the replica ("reads", per table or by default), from rds's
-- catalog: same schema and name (logical replication matches tables by name), the columns the
-- publication carries, primary and unique keys, indexes, and foreign keys between published tables
-- (PostgREST finds relationships through them). No defaults, identities or checks: rows only ever
-- arrive from rds, which has applied those. A generated column is generated here too (rows arrive
-- without it), so its expression must be one custom can evaluate.
--
-- What a table's replica holds ("tables": {"<schema>.<table>": {"where": …, "columns": […]}}) is what
-- the publication carries of it (rds-bridge/010_bridge.sql): the rows its row filter passes, the
-- columns of its column list (with a list, generated columns are left to rds). replica_source() gives
-- the api the whole table anyway: the rest comes from rds through the foreign table.
--
-- Logical replication carries rows, not DDL: each `dev` brings the tables in line. A new table is made
-- (the subscription then copies it); a table whose columns, column types, row filter or column list
-- changed is made again and copied again, alone; tables no longer published are dropped.
-- The read-your-writes fence's local copy: rds publishes it with the tables (rds-bridge/010_bridge.sql),
-- and rds_replica.await_writes (custom/api/020_write_through.sql) reads it.
CREATE SCHEMA IF NOT EXISTS pgapp_bridge;
REVOKE ALL ON SCHEMA pgapp_bridge FROM PUBLIC;
CREATE TABLE IF NOT EXISTS pgapp_bridge.replica_fence (slot integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
GRANT USAGE ON SCHEMA pgapp_bridge TO api_owner;
GRANT SELECT ON pgapp_bridge.replica_fence TO api_owner;

-- Each table's last copy (the first, or one after a change): its size on rds then, and how long it
-- took. Written by src/stack/replica.ts once the copies are done; `status` and `dev` show it.
CREATE TABLE IF NOT EXISTS pgapp_private.replica_copies (
  rel       text PRIMARY KEY,     -- the rds table
  rows      bigint,               -- rds's estimate before the copy
  bytes     bigint,
  copied_at timestamptz NOT NULL,
  seconds   numeric NOT NULL      -- from the start of the copy until the table was ready
);
REVOKE ALL ON pgapp_private.replica_copies FROM PUBLIC;

CREATE OR REPLACE FUNCTION pgapp_private.replica_column(c jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT format('%I %s', c ->> 'name', c ->> 'type')
      || CASE WHEN c ->> 'generated' = 's' THEN format(' GENERATED ALWAYS AS (%s) STORED', c ->> 'expr') ELSE '' END
$$;

-- The columns a published table's replica holds: every one, or those of the publication's column list.
CREATE OR REPLACE FUNCTION pgapp_private.replica_columns(def jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT coalesce(jsonb_agg(c ORDER BY i), '[]')
  FROM jsonb_array_elements(def -> 'columns') WITH ORDINALITY AS x(c, i)
  WHERE jsonb_typeof(def -> 'publication' -> 'columns') IS DISTINCT FROM 'array'
     OR def -> 'publication' -> 'columns' ? (c ->> 'name')
$$;

-- What the api reads a replica table's rows from: the local table, or — when the replica holds only
-- some rows or columns — the whole table all the same: the local rows with the columns the replica
-- leaves out fetched from rds by the key (only when a request reads them), plus rds's rows the row
-- filter leaves out (NOT filter, or filter NULL: what a publication does not carry). A request never
-- misses a row; a keyed read of a filtered table asks both (rds's side as an async foreign scan).
-- The filter is outside the UNION ALL, on a column that says which side a row came from: Postgres
-- flattens a UNION ALL whose members have no WHERE of their own into one append, folds the filter to
-- true on the replica's side and pushes it to rds on the other — with the request's ORDER BY, so a
-- page does not fetch every row outside the filter.
CREATE OR REPLACE FUNCTION pgapp_private.replica_source(def jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
DECLARE
  rt text := pgapp_private.replica_table(def);
  ft text := pgapp_private.foreign_table(def);
  filter text := def -> 'publication' ->> 'where';
  held text[] := ARRAY(SELECT x ->> 'name' FROM jsonb_array_elements(pgapp_private.replica_columns(def)) x);
  cols text[] := ARRAY(SELECT x ->> 'name' FROM jsonb_array_elements(def -> 'columns') x);
  by_key text := (SELECT string_agg(format('f.%1$I = r.%1$I', k), ' AND ') FROM jsonb_array_elements_text(def -> 'key') k);
  local_cols text := (SELECT string_agg(CASE WHEN c = ANY (held) THEN format('r.%I', c)
                                             ELSE format('(SELECT f.%1$I FROM %2$s f WHERE %3$s) AS %1$I', c, ft, by_key) END, ', ' ORDER BY i)
                      FROM unnest(cols) WITH ORDINALITY AS u(c, i));
BEGIN
  IF filter IS NULL AND held @> cols THEN
    RETURN rt;
  END IF;
  IF filter IS NULL THEN
    RETURN format('(SELECT %s FROM %s r) src', local_cols, rt);
  END IF;
  RETURN format('(SELECT %1$s FROM (SELECT %2$s, true AS "pgapp: replica" FROM %3$s r UNION ALL SELECT %4$s, false FROM %5$s f) u '
                'WHERE u."pgapp: replica" OR NOT (%6$s) OR (%6$s) IS NULL) src',
    (SELECT string_agg(format('u.%I', c), ', ' ORDER BY i) FROM unnest(cols) WITH ORDINALITY AS u(c, i)),
    local_cols, rt,
    (SELECT string_agg(format('f.%I', c), ', ' ORDER BY i) FROM unnest(cols) WITH ORDINALITY AS u(c, i)),
    ft, filter);
END $$;

-- Per table rds publishes: its local table, the columns it holds, what the publication carries of it
-- (`spec`), and its state: 'new' (no local table: a first copy), 'changed' (its columns, their types,
-- the row filter or the column list changed: made and copied again), or 'same'. `rows` and `bytes`:
-- its size on rds.
DROP FUNCTION IF EXISTS pgapp_private.replica_plan();
CREATE FUNCTION pgapp_private.replica_plan()
RETURNS TABLE (rel text, rt text, def jsonb, held jsonb, spec text, state text, rows bigint, bytes bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  t record;
  plain text := jsonb_build_object('where', NULL, 'columns', NULL)::text;
  recorded text;
  want text[];
  have text[];
BEGIN
  FOR t IN SELECT * FROM pgapp_private.catalog_tables() c WHERE (c.def ->> 'published')::boolean LOOP
    rel := t.rel;
    rt := pgapp_private.replica_table(t.def);
    def := t.def;
    held := pgapp_private.replica_columns(t.def);
    spec := jsonb_build_object('where', t.def -> 'publication' -> 'where', 'columns', t.def -> 'publication' -> 'columns')::text;
    rows := (t.def ->> 'rows')::bigint;
    bytes := (t.def ->> 'bytes')::bigint;
    IF to_regclass(rt) IS NULL THEN
      state := 'new';
    ELSE
      want := ARRAY(SELECT format('%s %s', x ->> 'name', x ->> 'type') FROM jsonb_array_elements(held) x ORDER BY 1);
      have := ARRAY(SELECT format('%s %s', a.attname, format_type(a.atttypid, a.atttypmod)) FROM pg_attribute a
                    WHERE a.attrelid = rt::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1);
      -- A table made before pgapp recorded the spec holds every row and column.
      recorded := (SELECT nullif(g.ddl, '') FROM pgapp_private.generated g WHERE g.object = 'replica table ' || rt);
      state := CASE WHEN want = have AND coalesce(recorded, plain) = spec THEN 'same' ELSE 'changed' END;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;

-- A replica table dropped (made again, or no longer published): what the api made of its rds table
-- and the foreign keys other replica tables hold to it first, then the table (something of yours on
-- it stops the run: drop_generated).
CREATE OR REPLACE FUNCTION pgapp_private.drop_replica_table(rels text[], rt text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  fk record;
BEGIN
  PERFORM pgapp_private.release(rels);
  FOR fk IN SELECT co.conrelid::regclass AS child, co.conname FROM pg_constraint co
            WHERE co.confrelid = to_regclass(rt) AND co.conrelid <> co.confrelid AND co.contype = 'f' LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.child, fk.conname);
  END LOOP;
  PERFORM pgapp_private.drop_generated('replica table ' || rt);
  EXECUTE format('DROP TABLE IF EXISTS %s', rt);
END $$;

CREATE OR REPLACE FUNCTION pgapp_private.sync_replica_tables() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  t record;
  c jsonb;
  k jsonb;
  rt text;
  plan jsonb := (SELECT coalesce(jsonb_agg(to_jsonb(p)), '[]') FROM pgapp_private.replica_plan() p);
  published text[] := ARRAY(SELECT x ->> 'rel' FROM jsonb_array_elements(plan) x);
  made text[] := '{}';
  changed text[] := '{}';
  gone text[] := '{}';
  skipped text[] := '{}';
  filled text[] := ARRAY['pgapp_bridge.replica_fence'];
  g record;
BEGIN
  FOR t IN SELECT x.* FROM jsonb_to_recordset(plan) AS x(rel text, rt text, def jsonb, held jsonb, spec text, state text) LOOP
    filled := filled || t.rt;
    FOR c IN SELECT x FROM jsonb_array_elements(t.held) x WHERE x ->> 'generated' = 's' AND x ->> 'exprOn' = 'rds' LOOP
      RAISE EXCEPTION '%.% is generated on rds by an expression custom cannot evaluate (%), so the replica cannot hold it', t.rel, c ->> 'name', c ->> 'expr'
        USING HINT = format('Read it through postgres_fdw ("tables": {"%s": {"reads": "fdw"}}), leave it out of the replica''s "columns", '
                            'or make the expression use only built-in functions.', t.rel);
    END LOOP;
    IF t.state = 'changed' THEN
      -- Made again, alone: what the api made of it and the foreign keys other replica tables hold to
      -- it go first (made again below, and by sync_api).
      PERFORM pgapp_private.drop_replica_table(ARRAY[t.rel], t.rt);
      changed := changed || t.rel;
    END IF;
    IF t.state <> 'same' THEN
      EXECUTE format('CREATE TABLE %s (%s)', t.rt,
                     (SELECT string_agg(pgapp_private.replica_column(x) || CASE WHEN (x ->> 'notNull')::boolean THEN ' NOT NULL' ELSE '' END, ', ')
                      FROM jsonb_array_elements(t.held) x));
      made := made || t.rt;
    END IF;
    EXECUTE format('GRANT SELECT ON %s TO api_owner', t.rt);
    PERFORM pgapp_private.remember('replica table ' || t.rt, 'replica table', ARRAY[t.rel], t.spec);
  END LOOP;

  -- Keys, then indexes, then foreign keys between published tables (to keys that are there by then):
  -- by name, once each, over the columns the replica holds. A foreign key from a table with rows (it
  -- was not made now) or to a filtered table (its rows outside the filter are not here) is NOT VALID:
  -- the rows come from rds, which checked them.
  FOR rt, k IN SELECT x ->> 'rt', y
               FROM jsonb_array_elements(plan) x, jsonb_array_elements(x -> 'def' -> 'constraints') y
               WHERE (SELECT array_agg(h ->> 'name') FROM jsonb_array_elements(x -> 'held') h)
                       @> ARRAY(SELECT jsonb_array_elements_text(y -> 'columns'))
                 AND (y ->> 'kind' IN ('p', 'u')
                      OR (y ->> 'kind' = 'f' AND EXISTS (
                            SELECT 1 FROM jsonb_array_elements(plan) p
                            WHERE p ->> 'rel' = format('%s.%s', y ->> 'refSchema', y ->> 'refTable')
                              AND (SELECT array_agg(h ->> 'name') FROM jsonb_array_elements(p -> 'held') h)
                                    @> ARRAY(SELECT jsonb_array_elements_text(y -> 'refColumns')))))
               ORDER BY y ->> 'kind' = 'f', x ->> 'rel', y ->> 'name' LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = rt::regclass AND conname = k ->> 'name');
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s%s', rt, k ->> 'name', k ->> 'def',
                   CASE WHEN k ->> 'kind' = 'f' AND (NOT rt = ANY (made) OR EXISTS (
                          SELECT 1 FROM jsonb_array_elements(plan) p
                          WHERE p ->> 'rel' = format('%s.%s', k ->> 'refSchema', k ->> 'refTable')
                            AND p -> 'def' -> 'publication' ->> 'where' IS NOT NULL))
                        THEN ' NOT VALID' ELSE '' END);
  END LOOP;
  FOR t IN SELECT x.* FROM jsonb_to_recordset(plan) AS x(rel text, rt text, def jsonb, held jsonb) LOOP
    FOR k IN SELECT x FROM jsonb_array_elements(t.def -> 'indexes') x
             WHERE jsonb_typeof(x -> 'columns') <> 'array'
                OR (SELECT array_agg(h ->> 'name') FROM jsonb_array_elements(t.held) h) @> ARRAY(SELECT jsonb_array_elements_text(x -> 'columns')) LOOP
      CONTINUE WHEN EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = to_regnamespace(quote_ident(t.def ->> 'schema')) AND relname = k ->> 'name');
      -- An index over one of the user's functions (which custom does not have), or over a column the
      -- replica leaves out, only makes reads slower: said, not fatal.
      BEGIN
        EXECUTE k ->> 'def';
      EXCEPTION WHEN undefined_function OR undefined_object OR undefined_column OR feature_not_supported THEN
        skipped := skipped || format('index %s on %s: %s', k ->> 'name', t.rel, SQLERRM);
      END;
    END LOOP;
  END LOOP;

  -- Tables no longer published (gone from rds, from the bridged schemas, or read through postgres_fdw
  -- now): what the api made from them, then the copy. (The subscription lets go at its next refresh.)
  FOR g IN SELECT object, tables FROM pgapp_private.generated
           WHERE kind = 'replica table' AND NOT tables && published LOOP
    PERFORM pgapp_private.drop_replica_table(g.tables, regexp_replace(g.object, '^replica table ', ''));
    gone := gone || g.tables;
  END LOOP;
  DELETE FROM pgapp_private.replica_copies rc WHERE NOT rc.rel = ANY (published);
  -- `tables`: every local table the subscription fills, the fence included; `made`: the ones to copy
  -- now (new or `changed`), with their size on rds.
  RETURN jsonb_build_object(
    'tables', to_jsonb(filled), 'made', to_jsonb(made), 'changed', to_jsonb(changed), 'gone', to_jsonb(gone),
    'skipped', to_jsonb(skipped),
    'copies', (SELECT coalesce(jsonb_agg(jsonb_build_object('rel', x ->> 'rel', 'table', x ->> 'rt', 'rows', x -> 'rows', 'bytes', x -> 'bytes')), '[]')
               FROM jsonb_array_elements(plan) x WHERE x ->> 'state' <> 'same'));
END $$;
REVOKE ALL ON FUNCTION pgapp_private.replica_column(jsonb), pgapp_private.replica_columns(jsonb), pgapp_private.replica_source(jsonb),
  pgapp_private.replica_plan(), pgapp_private.drop_replica_table(text[], text), pgapp_private.sync_replica_tables() FROM PUBLIC;
