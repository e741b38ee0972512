-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- Everything pgapp keeps on rds — the stand-in, or a real RDS (--rds-url) — is in schema pgapp_bridge:
--   bridged         the schemas pgapp mirrors (written by prepare())
--   catalog         rds's own catalog of those schemas, one JSON document: tables, columns and
--                   defaults, keys, foreign keys, indexes, the types and extensions they use. custom
--                   reads it over the bridge and builds its foreign tables, replica and API from it.
--   replica_fence   read-your-writes with reads: replica (custom/api/020_write_through.sql)
--   writes          every API write, in one statement (a view over replica_fence whose trigger
--                   makes the write and bumps the fence)
--   prepare()       called by every `dev`: settles the schemas, grants the stand-in's roles,
--                   keeps publication pgapp in line with the tables that read the replica
--   published       what prepare() last asked the publication to carry of each table
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

-- Every API write in one statement to rds (custom/api/020_write_through.sql): custom's foreign table
-- rds_bridge.writes is this view, and custom runs
--   UPDATE rds_bridge.writes SET request = $1 WHERE slot = $2 RETURNING result
-- which postgres_fdw sends as it is (a direct modify: the view has no generated column and custom no
-- row trigger on it), in the request's rds transaction: START TRANSACTION, this, COMMIT. Before, a
-- write was an INSERT prepared, run and deallocated, or an UPDATE/DELETE behind a cursor (DECLARE,
-- FETCH, CLOSE), and then the fence's own UPDATE: 5 to 8 statements.
-- request: {"op": INSERT | UPDATE | DELETE, "table": the rds table (qualified, quoted),
--           "names": the columns of the row as custom has it, in order, "row" (INSERT, UPDATE) and
--           "old" (UPDATE, DELETE): the new and the old row as record literals — each column in its
--           type's own text form, as postgres_fdw sends values, so any type (hstore, geometry …)
--           arrives as it left —, "columns": what INSERT or UPDATE writes, "conflict" (an upsert's
--           INSERT): {"target": its ON CONFLICT columns, "action": "update" | "nothing", "match": a
--           per-user table's owner column, which must match for DO UPDATE}, "match": the columns
--           that find the row UPDATE or DELETE changes — its key, and for a per-user table its owner
--           (so rds, not custom's copy, has the last word on whose row it is), "fence": bump the slot,
--           "quiet": the tables whose rows the caller may not see (below: what a refusal shows)}
-- result:  {"row": the row as rds wrote it, json and jsonb columns as JSON and the others as their
--           text form (null: no row matched), "fence": the slot's new value, "inserted" (INSERT):
--           whether the row is new, or an upsert updated the row it found}
-- Not SECURITY DEFINER: the write is made as the bridge user, with exactly the grants it has anyway.
CREATE OR REPLACE VIEW pgapp_bridge.writes AS
  SELECT f.slot, NULL::jsonb AS request, NULL::jsonb AS result FROM pgapp_bridge.replica_fence f;

CREATE OR REPLACE FUNCTION pgapp_bridge.write_row(r jsonb, slot integer) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  op text := r ->> 'op';
  target regclass;
  here text[];
  cols text[] := ARRAY(SELECT jsonb_array_elements_text(CASE jsonb_typeof(r -> 'columns') WHEN 'array' THEN r -> 'columns' ELSE '[]' END));
  matched text := (SELECT string_agg(format('t.%1$I = (x.o).%1$I', k), ' AND ')
                   FROM jsonb_array_elements_text(CASE jsonb_typeof(r -> 'match') WHEN 'array' THEN r -> 'match' ELSE '[]' END) k);
  returned text;
  written jsonb;
  fence bigint;
  conflict text;
  inserted boolean;
BEGIN
  -- Only the tables pgapp bridges (the bridge user's grants say the rest).
  SELECT c.oid INTO target FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
  JOIN pgapp_bridge.bridged b ON b.schema_name = s.nspname
  WHERE c.oid = to_regclass(r ->> 'table') AND c.relkind IN ('r', 'p');
  IF target IS NULL THEN
    RAISE EXCEPTION 'pgapp_bridge.writes: % is not a table of the bridged schemas', r ->> 'table' USING ERRCODE = '42501';
  END IF;
  -- Its columns in order, and what comes back: json and jsonb as they are, every other column in its
  -- text form (as custom reads it).
  SELECT array_agg(a.attname::text ORDER BY a.attnum),
         format('jsonb_build_object(%s)', string_agg(format('%L, t.%I%s', a.attname, a.attname,
                CASE WHEN a.atttypid IN ('json'::regtype, 'jsonb'::regtype) THEN '' ELSE '::text' END), ', ' ORDER BY a.attnum))
    INTO here, returned
    FROM pg_attribute a WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped;
  -- The record literals are read as this table's rows: custom's row must have its columns, in its order.
  IF here IS DISTINCT FROM ARRAY(SELECT jsonb_array_elements_text(r -> 'names')) THEN
    RAISE EXCEPTION '% has columns (%) on rds, but (%) in custom''s api', target, array_to_string(here, ', '),
                    (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(r -> 'names') x)
      USING ERRCODE = '55000', HINT = 'rds''s table changed since the last `pgapp dev`: run it again. Nothing was written.';
  END IF;
  IF op IN ('UPDATE', 'DELETE') AND matched IS NULL THEN
    RAISE EXCEPTION 'pgapp_bridge.writes: % of % names no row ("match" is empty)', op, target USING ERRCODE = '22023';
  END IF;
  IF op = 'INSERT' AND cardinality(cols) = 0 THEN
    EXECUTE format('INSERT INTO %s AS t DEFAULT VALUES RETURNING %s', target, returned) INTO written;
  ELSIF op = 'INSERT' THEN
    -- The columns the request named (rds fills the others: identity, serial, generated, its defaults),
    -- and an upsert's ON CONFLICT as the request asked for it.
    IF jsonb_typeof(r -> 'conflict') = 'object' THEN
      conflict := format(' ON CONFLICT (%s) ', (SELECT string_agg(quote_ident(c), ', ') FROM jsonb_array_elements_text(r -> 'conflict' -> 'target') c))
        || CASE WHEN r -> 'conflict' ->> 'action' = 'update'
                THEN format('DO UPDATE SET %s', (SELECT string_agg(format('%1$I = EXCLUDED.%1$I', c), ', ') FROM unnest(cols) c))
                     -- A per-user table: only the caller's own row (rds has the last word on whose it is).
                     || coalesce(' WHERE ' || (SELECT string_agg(format('t.%1$I IS NOT DISTINCT FROM EXCLUDED.%1$I', m), ' AND ')
                                               FROM jsonb_array_elements_text(r -> 'conflict' -> 'match') m), '')
                ELSE 'DO NOTHING' END;
    END IF;
    -- Whether the row is new (an upsert that found its row updates it: xmax is then set).
    EXECUTE format('INSERT INTO %s AS t (%s) SELECT %s FROM (SELECT $1::%s AS v) x%s RETURNING %s, t.xmax::text = ''0''',
                   target, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) c),
                   (SELECT string_agg(format('(x.v).%I', c), ', ') FROM unnest(cols) c), target, coalesce(conflict, ''), returned)
      INTO written, inserted USING r ->> 'row';
    -- Someone else's row in the way of an upsert: refused as row-level security refuses it.
    IF written IS NULL AND r -> 'conflict' ->> 'action' = 'update' AND jsonb_typeof(r -> 'conflict' -> 'match') = 'array' THEN
      RAISE EXCEPTION 'new row violates row-level security policy (USING expression) for table "%"', (SELECT c.relname FROM pg_class c WHERE c.oid = target)
        USING ERRCODE = '42501';
    END IF;
  ELSIF op = 'UPDATE' AND cardinality(cols) > 0 THEN
    EXECUTE format('UPDATE %s AS t SET %s FROM (SELECT $1::%s AS v, $2::%s AS o) x WHERE %s RETURNING %s',
                   target, (SELECT string_agg(format('%1$I = (x.v).%1$I', c), ', ') FROM unnest(cols) c), target, target, matched, returned)
      INTO written USING r ->> 'row', r ->> 'old';
  ELSIF op = 'DELETE' THEN
    EXECUTE format('DELETE FROM %s AS t USING (SELECT $1::%s AS o) x WHERE %s RETURNING %s', target, target, matched, returned)
      INTO written USING r ->> 'old';
  ELSE
    RAISE EXCEPTION 'pgapp_bridge.writes: no % of % to make', op, target USING ERRCODE = '22023';
  END IF;
  -- Read-your-writes: the fence moves in the write's own transaction, so custom applies both together.
  IF written IS NOT NULL AND (r ->> 'fence')::boolean THEN
    UPDATE pgapp_bridge.replica_fence f SET n = f.n + 1 WHERE f.slot = write_row.slot RETURNING f.n INTO fence;
  END IF;
  RETURN jsonb_build_object('row', written, 'fence', fence, 'inserted', inserted);
END $$;
REVOKE ALL ON FUNCTION pgapp_bridge.write_row(jsonb, integer) FROM PUBLIC;

-- The write, and what its refusal says. Postgres leaves out an integrity error's detail — the key or
-- the failing row, "Key (owner_id, domain)=(alice, a.example) already exists." — for a caller who may
-- not see that table's rows (row-level security on, or no SELECT), so no value leaks through an error.
-- The bridge user sees everything, so custom names the tables for which its caller would not ("quiet":
-- the written table and those referencing it, whose rows a cascade changes), and the detail is left
-- out as Postgres would leave it out for the caller. Only then is the write a subtransaction here.
CREATE OR REPLACE FUNCTION pgapp_bridge.write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  quiet text[] := ARRAY(SELECT jsonb_array_elements_text(
                          CASE jsonb_typeof(NEW.request -> 'quiet') WHEN 'array' THEN NEW.request -> 'quiet' ELSE '[]' END));
  st text; msg text; det text; hnt text; sch text; tbl text; con text; shown text;
BEGIN
  IF cardinality(quiet) = 0 THEN
    NEW.result := pgapp_bridge.write_row(NEW.request, NEW.slot);
    RETURN NEW;
  END IF;
  BEGIN
    NEW.result := pgapp_bridge.write_row(NEW.request, NEW.slot);
  EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                            hnt = PG_EXCEPTION_HINT, sch = SCHEMA_NAME, tbl = TABLE_NAME, con = CONSTRAINT_NAME;
    -- Whose values the detail shows: the error's table; a row still referenced, the referenced one's.
    shown := CASE WHEN st = '23503' AND det LIKE '%is still referenced from table%'
                  THEN (SELECT n.nspname || '.' || c.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.confrelid
                        JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE k.conname = con AND k.conrelid = to_regclass(format('%I.%I', sch, tbl)))
                  ELSE sch || '.' || tbl END;
    IF NOT (det ~ '^(Key \(|Failing row contains )' AND shown = ANY (quiet)) THEN
      RAISE;
    ELSIF hnt = '' THEN
      RAISE USING ERRCODE = st, MESSAGE = msg;
    ELSE
      RAISE USING ERRCODE = st, MESSAGE = msg, HINT = hnt;
    END IF;
  END;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS write ON pgapp_bridge.writes;
CREATE TRIGGER write INSTEAD OF UPDATE ON pgapp_bridge.writes FOR EACH ROW EXECUTE FUNCTION pgapp_bridge.write();
REVOKE ALL ON pgapp_bridge.writes FROM PUBLIC;
REVOKE ALL ON FUNCTION pgapp_bridge.write() FROM PUBLIC;

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
-- A table's size on rds (a partitioned one's: its partitions'): the planner's row estimate (NULL before
-- any ANALYZE) and its bytes without indexes — what a copy of it carries.
CREATE OR REPLACE FUNCTION pgapp_bridge.table_size(t oid, OUT rows bigint, OUT bytes bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT sum(c.reltuples) FILTER (WHERE c.reltuples >= 0)::bigint, sum(pg_table_size(c.oid))::bigint
  FROM pg_class c
  WHERE (c.oid = t AND c.relkind = 'r') OR c.oid IN (SELECT pt.relid FROM pg_partition_tree(t) pt WHERE pt.isleaf)
$$;

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
      -- What of it the publication carries: its row filter and column list (NULL: every row, every column).
      'publication', (SELECT jsonb_build_object(
                        'where', pg_get_expr(pr.prqual, pr.prrelid),
                        'columns', (SELECT jsonb_agg(a.attname ORDER BY a.attnum) FROM pg_attribute a
                                     WHERE a.attrelid = pr.prrelid AND a.attnum = ANY (pr.prattrs::int2[])))
                      FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
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
      -- Its size, what a first copy to the replica costs.
      'rows', (SELECT z.rows FROM pgapp_bridge.table_size(rel.oid) z),
      'bytes', (SELECT z.bytes FROM pgapp_bridge.table_size(rel.oid) z))
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
  'extensions', coalesce((SELECT jsonb_agg(jsonb_build_object('name', extname, 'schema', schema) ORDER BY extname) FROM ext), '[]'),
  -- What else the bridged schemas hold that PostgREST on rds would serve, which pgapp does not (yet):
  -- `dev` and `status` list each, with why, so nothing is left out silently.
  'unserved', coalesce((SELECT jsonb_agg(jsonb_build_object('schema', o.schema, 'name', o.name, 'kind', o.kind) ORDER BY o.position, o.kind, o.name)
    FROM (SELECT b.position, n.nspname AS schema, c.relname::text AS name,
                 CASE WHEN c.relispartition THEN 'partition' ELSE
                   CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END END AS kind
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pgapp_bridge.bridged b ON b.schema_name = n.nspname
          WHERE (c.relkind IN ('v', 'm', 'f') OR (c.relkind IN ('r', 'p') AND c.relispartition))
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
          UNION ALL
          SELECT b.position, n.nspname, format('%s(%s)', p.proname, pg_get_function_identity_arguments(p.oid)),
                 CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pgapp_bridge.bridged b ON b.schema_name = n.nspname
          WHERE p.prokind IN ('f', 'p') AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')) o), '[]'))
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
    EXECUTE format('GRANT EXECUTE ON FUNCTION pgapp_bridge.write(), pgapp_bridge.write_row(jsonb, integer) TO %I', bridge);
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
REVOKE ALL ON FUNCTION pgapp_bridge.prepare(), pgapp_bridge.resolve_schemas(text), pgapp_bridge.catalog_doc(),
  pgapp_bridge.table_size(oid) FROM PUBLIC;
