-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Where a table of rds becomes a table on custom. Every table of rds's bridged schemas has one here,
-- with rds's schema, name, columns, primary and unique keys, foreign keys (under rds's constraint
-- names), indexes, custom-evaluable defaults and comments: PostgREST, pointed at custom, finds
-- exactly the tables and relationships it would find on rds, and answers as it would there. Where the
-- rows are depends on how the table is read ("reads", per table or by default):
--
--   replica  the rows are here: rds publishes the table (publication pgapp, rds-bridge/010_bridge.sql)
--            and custom's subscription (src/stack/replica.ts) fills this table — logical replication
--            matches tables by schema and name, which is why the table has rds's. Always the whole
--            table: a table part local and part remote would need objects on rds over its columns,
--            which would stand in the way of your migrations there.
--   fdw      the rows stay on rds: the table here is empty, and the foreign table rds_<schema>.<table>
--            (040_foreign_tables.sql) is its inheritance child, so a query of the table reads rds
--            (postgres_fdw), filters and order pushed down. Tables rds cannot publish (no primary key,
--            no replica identity) are read this way whatever "reads" says.
--
-- Writes go to rds, never to these rows: see custom/api/020_write_through.sql. The foreign keys are
-- NOT VALID with their triggers off — rds checked the rows it sent, and a reference to a row the
-- replica has not received yet must not stop a write rds accepts; PostgREST reads them only to find
-- relationships. Nothing writes here but the subscription and pgapp.
--
-- Logical replication carries rows, not DDL: each `dev` brings the tables in line with rds's catalog.
-- A new table is made (a replica table then copied); a table whose columns, their types, its read
-- mode or its row filter changed is made again (and copied again, alone); tables gone are dropped.
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

-- Your own row-level security on a table (db/custom), while the table is made again: kept here by
-- drop_table, put back by sync_tables once the new table is there.
CREATE TABLE IF NOT EXISTS pgapp_private.kept_policies (st text NOT NULL, ddl text NOT NULL);
REVOKE ALL ON pgapp_private.kept_policies FROM PUBLIC;

-- An earlier pgapp kept only the published tables here (kind 'replica table'): each is one of these now.
UPDATE pgapp_private.generated SET object = regexp_replace(object, '^replica table ', 'table '), kind = 'table'
WHERE kind = 'replica table';
DROP FUNCTION IF EXISTS pgapp_private.sync_replica_tables(), pgapp_private.replica_plan(), pgapp_private.replica_source(jsonb),
  pgapp_private.replica_columns(jsonb), pgapp_private.replica_column(jsonb), pgapp_private.drop_replica_table(text[], text);

-- How a table is read here: 'replica' when rds publishes it (prepare() publishes what reads the
-- replica and can be published), else 'fdw'.
CREATE OR REPLACE FUNCTION pgapp_private.table_mode(def jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT CASE WHEN (def ->> 'published')::boolean THEN 'replica' ELSE 'fdw' END
$$;

-- Whether a table is partitioned here as on rds: a replica of a partitioned table.
CREATE OR REPLACE FUNCTION pgapp_private.partitioned_here(def jsonb, mode text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT mode = 'replica' AND def ->> 'partitionBy' IS NOT NULL
$$;

-- One column. A replica table computes a generated column itself (logical replication does not carry
-- them); an empty fdw table's columns are plain, as its foreign child's are (a parent's and a
-- child's columns are generated alike or not at all), and rds computes the value. An identity
-- GENERATED ALWAYS is one here too, so a value for it is refused before anything else, as on rds
-- (428C9: "cannot insert a non-DEFAULT value"); its numbers are rds's all the same (the write
-- carries on with rds's row, and the replica gets rds's).
CREATE OR REPLACE FUNCTION pgapp_private.table_column(c jsonb, mode text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT format('%I %s', c ->> 'name', c ->> 'type')
      || CASE WHEN mode = 'replica' AND c ->> 'generated' = 's' THEN format(' GENERATED ALWAYS AS (%s) STORED', c ->> 'expr') ELSE '' END
      || CASE WHEN c ->> 'identity' = 'a' THEN ' GENERATED ALWAYS AS IDENTITY' ELSE '' END
      || CASE WHEN (c ->> 'notNull')::boolean THEN ' NOT NULL' ELSE '' END
$$;

-- Per table of the catalog: its table here, how it is read, what its shape and reading were made for
-- (`spec`, kept in the registry), and its state: 'new' (no table: made, and a replica one copied),
-- 'changed' (its columns, their types or its mode differ: made again, copied again),
-- or 'same'. `rows` and `bytes`: its size on rds.
CREATE OR REPLACE FUNCTION pgapp_private.tables_plan()
RETURNS TABLE (rel text, st text, def jsonb, mode text, spec text, state text, rows bigint, bytes bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  t record;
  recorded text;
  want text[];
  have text[];
BEGIN
  FOR t IN SELECT * FROM pgapp_private.catalog_tables() LOOP
    rel := t.rel;
    st := pgapp_private.replica_table(t.def);
    def := t.def;
    mode := pgapp_private.table_mode(t.def);
    -- A replica of a partitioned table is partitioned as rds's is (its partitions are endpoints too,
    -- as on rds, and the subscription's rows land in the partition rds's are in).
    spec := (jsonb_build_object('mode', mode)
             || CASE WHEN mode = 'replica' AND t.def ->> 'partitionBy' IS NOT NULL
                     THEN jsonb_build_object('partitions', md5((t.def -> 'partitionBy')::text || (t.def -> 'partitions')::text)) ELSE '{}' END)::text;
    rows := (t.def ->> 'rows')::bigint;
    bytes := (t.def ->> 'bytes')::bigint;
    IF to_regclass(st) IS NULL THEN
      state := 'new';
    ELSE
      want := ARRAY(SELECT format('%s %s %s %s', x ->> 'name', x ->> 'type', mode = 'replica' AND x ->> 'generated' IS NOT DISTINCT FROM 's',
                                  x ->> 'identity' IS NOT DISTINCT FROM 'a')
                    FROM jsonb_array_elements(t.def -> 'columns') x ORDER BY 1);
      have := ARRAY(SELECT format('%s %s %s %s', a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated = 's', a.attidentity = 'a')
                    FROM pg_attribute a WHERE a.attrelid = st::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1);
      recorded := (SELECT g.ddl FROM pgapp_private.generated g WHERE g.object = 'table ' || st);
      -- A table an earlier pgapp made for the replica recorded {"where", "columns"}: a replica table
      -- (of all its rows and columns: the others were part of an api view, and are made again).
      IF recorded IS NOT NULL AND NOT recorded::jsonb ? 'mode' THEN
        recorded := CASE WHEN recorded::jsonb ->> 'where' IS NULL AND recorded::jsonb ->> 'columns' IS NULL
                         THEN jsonb_build_object('mode', 'replica')::text END;
      END IF;
      state := CASE WHEN want = have AND recorded = spec THEN 'same' ELSE 'changed' END;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;

-- A table dropped (made again, or gone from rds): what the api made of it and the foreign keys other
-- tables hold to it first, its children let go, then the table (something of yours on it stops the
-- run: drop_generated).
CREATE OR REPLACE FUNCTION pgapp_private.drop_table(rels text[], st text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  fk record;
  child regclass;
BEGIN
  PERFORM pgapp_private.release(rels);
  IF to_regclass(st) IS NULL THEN
    DELETE FROM pgapp_private.generated WHERE object = 'table ' || st;
    RETURN;
  END IF;
  FOR fk IN SELECT co.conrelid::regclass AS child, co.conname FROM pg_constraint co
            WHERE co.confrelid = to_regclass(st) AND co.conrelid <> co.confrelid AND co.contype = 'f' AND co.conparentid = 0 LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.child, fk.conname);
  END LOOP;
  -- Other tables' per-user rules look rows up here (a reference must name a row the caller sees):
  -- their access goes too, and sync_api makes it again over the new table.
  FOR fk IN SELECT DISTINCT 'access ' || pol.polrelid::regclass::text AS object
            FROM pg_depend d JOIN pg_policy pol ON d.classid = 'pg_policy'::regclass AND d.objid = pol.oid
            WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = to_regclass(st) AND pol.polrelid <> to_regclass(st)
              AND pol.polname::text LIKE 'pgapp\_%' LOOP
    PERFORM pgapp_private.drop_generated(fk.object);
  END LOOP;
  FOR child IN SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
               WHERE i.inhparent = to_regclass(st) AND k.relkind = 'f' LOOP
    EXECUTE format('ALTER FOREIGN TABLE %s NO INHERIT %s', child, st);
  END LOOP;
  -- Your own policies on it (pgapp's are pgapp_*, made again by sync_api) come back on the new table.
  INSERT INTO pgapp_private.kept_policies (st, ddl)
  SELECT st, format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.policyname, st, p.permissive, p.cmd,
                    (SELECT string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ') FROM unnest(p.roles) r),
                    ' USING (' || p.qual || ')', ' WITH CHECK (' || p.with_check || ')')
  FROM pg_policies p JOIN pg_class c ON c.relname = p.tablename AND c.relnamespace = to_regnamespace(quote_ident(p.schemaname))
  WHERE c.oid = to_regclass(st) AND p.policyname NOT LIKE 'pgapp\_%';
  IF FOUND THEN
    INSERT INTO pgapp_private.kept_policies (st, ddl) VALUES (st, format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', st));
  END IF;
  PERFORM pgapp_private.drop_generated('table ' || st);
  EXECUTE format('DROP TABLE IF EXISTS %s', st);
END $$;

CREATE OR REPLACE FUNCTION pgapp_private.sync_tables() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  t record;
  c jsonb;
  k jsonb;
  st text;
  plan jsonb := (SELECT coalesce(jsonb_agg(to_jsonb(p)), '[]') FROM pgapp_private.tables_plan() p);
  rels text[] := ARRAY(SELECT x ->> 'rel' FROM jsonb_array_elements(plan) x);
  made text[] := '{}';
  to_copy text[] := '{}';
  changed text[] := '{}';
  recopied text[] := '{}';
  gone text[] := '{}';
  skipped text[] := '{}';
  filled text[] := ARRAY['pgapp_bridge.replica_fence'];
  wanted text[];
  child regclass;
  expr text;
  g record;
BEGIN
  FOR t IN SELECT x.* FROM jsonb_to_recordset(plan) AS x(rel text, st text, def jsonb, mode text, spec text, state text) LOOP
    -- A replica of some rows or columns cannot serve the table whole (an earlier pgapp's publication).
    IF t.mode = 'replica' AND (jsonb_typeof(t.def -> 'publication' -> 'columns') = 'array' OR t.def -> 'publication' ->> 'where' IS NOT NULL) THEN
      RAISE EXCEPTION 'rds publishes part of % (a row filter or a column list), but a table on custom holds all of rds''s', t.rel
        USING HINT = 'Drop "where" and "columns" for it in pgapp.config.json, then run `pgapp dev` again.';
    END IF;
    IF t.mode = 'replica' THEN
      filled := filled || t.st;
      FOR c IN SELECT x FROM jsonb_array_elements(t.def -> 'columns') x WHERE x ->> 'generated' = 's' AND x ->> 'exprOn' = 'rds' LOOP
        RAISE EXCEPTION '%.% is generated on rds by an expression custom cannot evaluate (%), so the replica cannot hold it', t.rel, c ->> 'name', c ->> 'expr'
          USING HINT = format('Read it through postgres_fdw ("tables": {"%s": {"reads": "fdw"}}), or make the expression use only built-in functions.', t.rel);
      END LOOP;
    END IF;
    IF t.state = 'changed' THEN
      -- A replica table before and after: its copy is made again (else the replica gets a new table).
      IF t.mode = 'replica' AND (SELECT coalesce(was.ddl::jsonb ->> 'mode', 'replica') FROM pgapp_private.generated was
                                 WHERE was.object = 'table ' || t.st) = 'replica' THEN
        recopied := recopied || t.rel;
      END IF;
      -- Made again, alone: what the api made of it and the foreign keys other tables hold to it go
      -- first (made again below, and by sync_api).
      PERFORM pgapp_private.drop_table(ARRAY[t.rel], t.st);
      changed := changed || t.rel;
    END IF;
    IF t.state <> 'same' THEN
      EXECUTE format('CREATE TABLE %s (%s)%s', t.st,
                     (SELECT string_agg(pgapp_private.table_column(x, t.mode), ', ') FROM jsonb_array_elements(t.def -> 'columns') x),
                     CASE WHEN pgapp_private.partitioned_here(t.def, t.mode) THEN ' PARTITION BY ' || (t.def ->> 'partitionBy') ELSE '' END);
      -- Its partitions, as rds's (top down: a partition partitioned in turn before its own).
      IF pgapp_private.partitioned_here(t.def, t.mode) THEN
        FOR c IN SELECT jsonb_array_elements(coalesce(nullif(t.def -> 'partitions', 'null'), '[]')) LOOP
          EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', c ->> 'schema');
          EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s %s%s', c ->> 'schema', c ->> 'name', c ->> 'parent', c ->> 'bound',
                         CASE WHEN c ->> 'partitionBy' IS NOT NULL THEN ' PARTITION BY ' || (c ->> 'partitionBy') ELSE '' END);
          EXECUTE format('GRANT SELECT ON %I.%I TO api_owner', c ->> 'schema', c ->> 'name');
        END LOOP;
        -- Rows of a partition rds adds later (a monthly job) must land somewhere until the next `dev`
        -- makes that partition here too (the table changes: it is made again and copied again): a
        -- default partition of pgapp's own, where rds's table has none, outside the served schemas.
        IF t.def ->> 'partitionBy' !~* '^hash' AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(nullif(t.def -> 'partitions', 'null'), '[]')) x
                                                                 WHERE x ->> 'parent' = t.st AND x ->> 'bound' = 'DEFAULT') THEN
          EXECUTE format('CREATE TABLE pgapp_private.%I PARTITION OF %s DEFAULT', left(t.rel, 48) || ' default', t.st);
        END IF;
      END IF;
      FOR expr IN DELETE FROM pgapp_private.kept_policies k WHERE k.st = t.st RETURNING k.ddl LOOP
        BEGIN
          EXECUTE expr;
        EXCEPTION WHEN OTHERS THEN
          RAISE EXCEPTION 'your policy on % no longer fits the table as rds has it now: %', t.st, SQLERRM
            USING DETAIL = expr, HINT = 'Change it in its SQL file under db/custom to fit rds''s table, then run `pgapp dev` again. Nothing was changed.';
        END;
      END LOOP;
      made := made || t.rel;
      IF t.mode = 'replica' THEN
        to_copy := to_copy || t.st;
      END IF;
    END IF;
    -- Comments, as rds's (PostgREST's OpenAPI shows them); the defaults are sync_api's (api/050_api.sql).
    FOR c IN SELECT jsonb_array_elements(t.def -> 'columns') LOOP
      IF col_description(t.st::regclass, (SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = t.st::regclass AND a.attname = c ->> 'name'))
         IS DISTINCT FROM c ->> 'comment' THEN
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', t.st, c ->> 'name', c ->> 'comment');
      END IF;
    END LOOP;
    IF obj_description(t.st::regclass, 'pg_class') IS DISTINCT FROM t.def ->> 'comment' THEN
      EXECUTE format('COMMENT ON TABLE %s IS %L', t.st, t.def ->> 'comment');
    END IF;
    -- Where its rows are, when not here: rds's table (fdw) as its inheritance child.
    wanted := CASE WHEN t.mode = 'fdw' THEN ARRAY[pgapp_private.foreign_table(t.def)] ELSE '{}' END;
    FOR child IN SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
                 WHERE i.inhparent = t.st::regclass AND k.relkind = 'f' LOOP
      IF NOT child::text = ANY (wanted) THEN
        EXECUTE format('ALTER FOREIGN TABLE %s NO INHERIT %s', child, t.st);
      END IF;
    END LOOP;
    FOR st IN SELECT unnest(wanted) LOOP
      IF NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = t.st::regclass AND i.inhrelid = st::regclass) THEN
        EXECUTE format('ALTER FOREIGN TABLE %s INHERIT %s', st, t.st);
      END IF;
    END LOOP;
    EXECUTE format('GRANT SELECT ON %s TO api_owner', t.st);
    PERFORM pgapp_private.remember('table ' || t.st, 'table', ARRAY[t.rel], t.spec);
  END LOOP;
  -- Keys, then indexes, then foreign keys (to keys that are there by then): by name, once each.
  FOR st, k IN SELECT x ->> 'st', y
               FROM jsonb_array_elements(plan) x, jsonb_array_elements(x -> 'def' -> 'constraints') y
               WHERE y ->> 'kind' IN ('p', 'u')
               ORDER BY x ->> 'rel', y ->> 'name' LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = st::regclass AND conname = k ->> 'name');
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', st, k ->> 'name', k ->> 'def');
  END LOOP;
  -- A replica's partitions' own keys (those not the partitioned table's), as rds's.
  FOR st, k IN SELECT format('%I.%I', y ->> 'schema', y ->> 'name'), z
               FROM jsonb_array_elements(plan) x, jsonb_array_elements(coalesce(nullif(x -> 'def' -> 'partitions', 'null'), '[]')) y, jsonb_array_elements(y -> 'constraints') z
               WHERE pgapp_private.partitioned_here(x -> 'def', x ->> 'mode') LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = st::regclass AND conname = k ->> 'name');
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', st, k ->> 'name', k ->> 'def');
  END LOOP;
  FOR t IN SELECT x.* FROM jsonb_to_recordset(plan) AS x(rel text, st text, def jsonb) LOOP
    FOR k IN SELECT x FROM jsonb_array_elements(t.def -> 'indexes') x LOOP
      CONTINUE WHEN EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = to_regnamespace(quote_ident(t.def ->> 'schema')) AND relname = k ->> 'name');
      -- An index over one of the user's functions (which custom does not have) only makes reads
      -- slower: said, not fatal.
      BEGIN
        EXECUTE k ->> 'def';
      EXCEPTION WHEN undefined_function OR undefined_object OR undefined_column OR feature_not_supported THEN
        skipped := skipped || format('index %s on %s: %s', k ->> 'name', t.rel, SQLERRM);
      END;
    END LOOP;
  END LOOP;
  FOR st, k IN SELECT x ->> 'st', y
               FROM jsonb_array_elements(plan) x, jsonb_array_elements(x -> 'def' -> 'constraints') y
               WHERE y ->> 'kind' = 'f' AND format('%s.%s', y ->> 'refSchema', y ->> 'refTable') = ANY (rels)
               ORDER BY x ->> 'rel', y ->> 'name' LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = st::regclass AND conname = k ->> 'name');
    -- (A partitioned table's foreign keys cannot be NOT VALID: it is checked then, while the table
    -- is still empty or holds rds's rows, which rds checked.)
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s%s', st, k ->> 'name', k ->> 'def',
                   CASE WHEN (SELECT relkind FROM pg_class WHERE oid = st::regclass) = 'p' THEN '' ELSE ' NOT VALID' END);
  END LOOP;
  -- rds checks references; here the foreign keys only describe relationships. Their triggers off:
  -- a write is never refused here for a row the replica has not received yet (nor would an fdw
  -- table's empty local part hold the row referenced), and nothing cascades locally.
  FOR g IN SELECT tg.tgrelid::regclass AS rel, tg.tgname FROM pg_trigger tg JOIN pg_constraint co ON co.oid = tg.tgconstraint
           WHERE co.contype = 'f' AND tg.tgenabled <> 'D'
             -- (a partition's, as its partitioned table's: by the root)
             AND (coalesce(pg_partition_root(co.conrelid), co.conrelid)::regclass::text = ANY (ARRAY(SELECT x ->> 'st' FROM jsonb_array_elements(plan) x))
                  OR coalesce(pg_partition_root(co.confrelid), co.confrelid)::regclass::text = ANY (ARRAY(SELECT x ->> 'st' FROM jsonb_array_elements(plan) x))) LOOP
    EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', g.rel, g.tgname);
  END LOOP;

  -- Tables gone from rds (or from the bridged schemas): what the api made from them, then the table.
  FOR g IN SELECT object, tables FROM pgapp_private.generated WHERE kind = 'table' AND NOT tables && rels LOOP
    PERFORM pgapp_private.drop_table(g.tables, regexp_replace(g.object, '^table ', ''));
    gone := gone || g.tables;
  END LOOP;
  DELETE FROM pgapp_private.replica_copies rc WHERE NOT rc.rel IN (SELECT x ->> 'rel' FROM jsonb_array_elements(plan) x WHERE x ->> 'mode' = 'replica');
  -- `tables`: every local table the subscription fills, the fence included; `made`: the rds tables
  -- made now; `copy`: the replica tables among them (new or changed), to copy, with their size on rds;
  -- `changed`: the tables made again, `recopied` those of them the replica held before too.
  RETURN jsonb_build_object(
    'count', jsonb_array_length(plan),
    'tables', to_jsonb(filled), 'made', to_jsonb(to_copy), 'changed', to_jsonb(changed), 'recopied', to_jsonb(recopied), 'gone', to_jsonb(gone),
    'skipped', to_jsonb(skipped),
    'copies', (SELECT coalesce(jsonb_agg(jsonb_build_object('rel', x ->> 'rel', 'table', x ->> 'st', 'rows', x -> 'rows', 'bytes', x -> 'bytes')), '[]')
               FROM jsonb_array_elements(plan) x WHERE x ->> 'state' <> 'same' AND x ->> 'mode' = 'replica'));
END $$;
REVOKE ALL ON FUNCTION pgapp_private.table_mode(jsonb), pgapp_private.table_column(jsonb, text), pgapp_private.partitioned_here(jsonb, text),
  pgapp_private.tables_plan(), pgapp_private.drop_table(text[], text), pgapp_private.sync_tables() FROM PUBLIC;
