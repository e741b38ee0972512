-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- reads: replica. The local tables rds's publication pgapp feeds (src/stack/replica.ts manages the
-- subscription), from rds's catalog: same schema and name (logical replication matches tables by
-- name), columns, primary and unique keys, indexes, and foreign keys between published tables
-- (PostgREST finds relationships through them). No defaults, identities or checks: rows only ever
-- arrive from rds, which has applied those. A generated column is generated here too (rows arrive
-- without it), so its expression must be one custom can evaluate.
--
-- Logical replication carries rows, not DDL: each `dev` brings the tables in line — a new table is
-- made (the subscription then copies it), a new column added (the caller copies everything again:
-- rows replicated before it existed hold nothing for it), a column rds dropped accepts NULL, new keys
-- and indexes are added. A changed column type stops with the way out.
-- The read-your-writes fence's local copy: rds publishes it with the tables (rds-bridge/010_bridge.sql),
-- and rds_replica.await_writes (custom/api/020_write_through.sql) reads it.
CREATE SCHEMA IF NOT EXISTS pgapp_bridge;
REVOKE ALL ON SCHEMA pgapp_bridge FROM PUBLIC;
CREATE TABLE IF NOT EXISTS pgapp_bridge.replica_fence (slot integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
GRANT USAGE ON SCHEMA pgapp_bridge TO api_owner;
GRANT SELECT ON pgapp_bridge.replica_fence TO api_owner;

CREATE OR REPLACE FUNCTION pgapp_private.replica_column(c jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT format('%I %s', c ->> 'name', c ->> 'type')
      || CASE WHEN c ->> 'generated' = 's' THEN format(' GENERATED ALWAYS AS (%s) STORED', c ->> 'expr') ELSE '' END
$$;

CREATE OR REPLACE FUNCTION pgapp_private.sync_replica_tables() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  t record;
  c jsonb;
  k jsonb;
  rt text;
  mine record;
  published text[] := ARRAY(SELECT rel FROM pgapp_private.catalog_tables() WHERE (def ->> 'published')::boolean);
  made text[] := '{}';
  columns text[] := '{}';
  gone text[] := '{}';
  skipped text[] := '{}';
  filled text[] := ARRAY['pgapp_bridge.replica_fence'];
  g record;
BEGIN
  FOR t IN SELECT * FROM pgapp_private.catalog_tables() WHERE rel = ANY (published) LOOP
    rt := pgapp_private.replica_table(t.def);
    filled := filled || rt;
    FOR c IN SELECT x FROM jsonb_array_elements(t.def -> 'columns') x WHERE x ->> 'generated' = 's' AND x ->> 'exprOn' = 'rds' LOOP
      RAISE EXCEPTION '%.% is generated on rds by an expression custom cannot evaluate (%), so the replica cannot hold it', t.rel, c ->> 'name', c ->> 'expr'
        USING HINT = 'Read through postgres_fdw (--reads fdw), or make the expression use only built-in functions.';
    END LOOP;
    IF to_regclass(rt) IS NULL THEN
      EXECUTE format('CREATE TABLE %s (%s)', rt,
                     (SELECT string_agg(pgapp_private.replica_column(x) || CASE WHEN (x ->> 'notNull')::boolean THEN ' NOT NULL' ELSE '' END, ', ')
                      FROM jsonb_array_elements(t.def -> 'columns') x));
      made := made || rt;
    ELSE
      FOR c IN SELECT x FROM jsonb_array_elements(t.def -> 'columns') x LOOP
        SELECT format_type(a.atttypid, a.atttypmod) AS type INTO mine
        FROM pg_attribute a WHERE a.attrelid = rt::regclass AND a.attname = c ->> 'name' AND NOT a.attisdropped;
        IF NOT FOUND THEN
          -- Nullable: the rows already here have no value for it until they are copied again.
          EXECUTE format('ALTER TABLE %s ADD COLUMN %s', rt, pgapp_private.replica_column(c));
          columns := columns || format('%s.%s', t.rel, c ->> 'name');
        ELSIF mine.type <> c ->> 'type' THEN
          RAISE EXCEPTION '%.% is % on rds but % in custom''s replica: logical replication does not change column types', t.rel, c ->> 'name', c ->> 'type', mine.type
            USING HINT = 'Read through postgres_fdw meanwhile (`pgapp dev --reads fdw`); `pgapp reset` then `pgapp dev` '
                         'rebuild the replica (a reset also deletes the stand-in''s data: keep your seed in db/rds/seed).';
        END IF;
      END LOOP;
      -- A column rds dropped: rows arrive without it, so it must accept NULL (the api no longer shows it).
      FOR mine IN SELECT a.attname FROM pg_attribute a
                  WHERE a.attrelid = rt::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
                    AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(t.def -> 'columns') x WHERE x ->> 'name' = a.attname) LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL', rt, mine.attname);
      END LOOP;
    END IF;
    EXECUTE format('GRANT SELECT ON %s TO api_owner', rt);
    PERFORM pgapp_private.remember('replica table ' || rt, 'replica table', ARRAY[t.rel], '');
  END LOOP;

  -- Keys, then indexes, then foreign keys between published tables (to keys that are there by then):
  -- by name, once each.
  FOR rt, k IN SELECT pgapp_private.replica_table(ct.def), x FROM pgapp_private.catalog_tables() ct, jsonb_array_elements(ct.def -> 'constraints') x
              WHERE ct.rel = ANY (published)
                AND (x ->> 'kind' IN ('p', 'u')
                     OR (x ->> 'kind' = 'f' AND format('%s.%s', x ->> 'refSchema', x ->> 'refTable') = ANY (published)))
              ORDER BY x ->> 'kind' = 'f', ct.rel, x ->> 'name' LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = rt::regclass AND conname = k ->> 'name');
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', rt, k ->> 'name', k ->> 'def');
  END LOOP;
  FOR t IN SELECT * FROM pgapp_private.catalog_tables() WHERE rel = ANY (published) LOOP
    FOR k IN SELECT x FROM jsonb_array_elements(t.def -> 'indexes') x LOOP
      CONTINUE WHEN EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = to_regnamespace(quote_ident(t.schema)) AND relname = k ->> 'name');
      -- An index over one of the user's functions (which custom does not have) only makes reads
      -- slower: said, not fatal.
      BEGIN
        EXECUTE k ->> 'def';
      EXCEPTION WHEN undefined_function OR undefined_object OR feature_not_supported THEN
        skipped := skipped || format('index %s on %s: %s', k ->> 'name', t.rel, SQLERRM);
      END;
    END LOOP;
  END LOOP;

  -- Tables no longer published (gone from rds, or from the bridged schemas): what the api made from
  -- them, then the copy. (The subscription drops them at its next refresh.)
  FOR g IN SELECT object, tables FROM pgapp_private.generated
           WHERE kind = 'replica table' AND NOT tables && published LOOP
    PERFORM pgapp_private.release(g.tables);
    PERFORM pgapp_private.drop_generated(g.object);
    gone := gone || g.tables;
  END LOOP;
  -- `tables`: every local table the subscription fills, the fence included.
  RETURN jsonb_build_object('tables', to_jsonb(filled), 'made', to_jsonb(made), 'columns', to_jsonb(columns),
                            'gone', to_jsonb(gone), 'skipped', to_jsonb(skipped));
END $$;
REVOKE ALL ON FUNCTION pgapp_private.replica_column(jsonb), pgapp_private.sync_replica_tables() FROM PUBLIC;
