-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- On rds, beside 010_bridge.sql's fence: what custom's write trigger sends every API write through.
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
    -- Whether the row is new (an upsert that found its row updates it: xmax is then set). A
    -- partitioned table has no xmax to return: whether the upsert's row was there, asked first.
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = target) = 'p' THEN
      IF conflict IS NULL THEN
        inserted := true;
      ELSE
        EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s t, (SELECT $1::%s AS v) x WHERE %s)', target, target,
                       (SELECT string_agg(format('t.%1$I = (x.v).%1$I', c), ' AND ') FROM jsonb_array_elements_text(r -> 'conflict' -> 'target') c))
          INTO inserted USING r ->> 'row';
      END IF;
      EXECUTE format('INSERT INTO %s AS t (%s) SELECT %s FROM (SELECT $1::%s AS v) x%s RETURNING %s',
                     target, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) c),
                     (SELECT string_agg(format('(x.v).%I', c), ', ') FROM unnest(cols) c), target, coalesce(conflict, ''), returned)
        INTO written USING r ->> 'row';
    ELSE
      EXECUTE format('INSERT INTO %s AS t (%s) SELECT %s FROM (SELECT $1::%s AS v) x%s RETURNING %s, t.xmax::text = ''0''',
                     target, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) c),
                     (SELECT string_agg(format('(x.v).%I', c), ', ') FROM unnest(cols) c), target, coalesce(conflict, ''), returned)
        INTO written, inserted USING r ->> 'row';
    END IF;
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

-- A call of one of the bridged schemas' functions, for custom (a function that writes, or that custom
-- cannot run itself: custom/bridge/080_functions.sql), as the bridge user:
-- request {"function": its schema.name(argument types), "args": each input's text form (null: NULL),
--          "claims": the caller's request.jwt.claims (a function may read them, as under PostgREST)}
-- result  {"rows": the rows `SELECT * FROM f(…)` gives, as JSON objects ([] for void)}
-- A function that writes is called through pgapp_bridge.writes (in the request's rds transaction);
-- one that only reads, also over its own connection (dblink).
CREATE OR REPLACE FUNCTION pgapp_bridge.call(r jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  fn oid;
  p pg_proc;
  args text;
  rows jsonb;
BEGIN
  SELECT f.oid INTO fn FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace JOIN pgapp_bridge.bridged b ON b.schema_name = n.nspname
  WHERE f.oid = to_regprocedure(r ->> 'function') AND f.prokind = 'f';
  IF fn IS NULL THEN
    RAISE EXCEPTION 'pgapp_bridge.call: % is not a function of the bridged schemas', r ->> 'function' USING ERRCODE = '42883',
      HINT = 'rds''s function changed since the last `pgapp dev`: run it again.';
  END IF;
  SELECT * INTO p FROM pg_proc WHERE oid = fn;
  IF jsonb_typeof(r -> 'claims') = 'string' THEN
    PERFORM set_config('request.jwt.claims', r ->> 'claims', true);
  END IF;
  -- Each input in its type (the last as VARIADIC where it is one), so the call names this function.
  SELECT string_agg(CASE WHEN a.i = cardinality(p.proargtypes::oid[]) AND p.provariadic <> 0 THEN 'VARIADIC ' ELSE '' END
                    || CASE WHEN v.value IS NULL OR jsonb_typeof(v.value) = 'null' THEN 'NULL' ELSE quote_literal(v.value #>> '{}') END
                    || '::' || format_type(a.t, NULL), ', ' ORDER BY a.i)
    INTO args
  FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)
  LEFT JOIN jsonb_array_elements(r -> 'args') WITH ORDINALITY AS v(value, j) ON v.j = a.i;
  IF p.prorettype = 'void'::regtype THEN
    EXECUTE format('SELECT %s.%I(%s)', p.pronamespace::regnamespace, p.proname, coalesce(args, ''));
    rows := '[]';
  ELSE
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x)), ''[]'') FROM (SELECT * FROM %s.%I(%s)) x',
                   p.pronamespace::regnamespace, p.proname, coalesce(args, '')) INTO rows;
  END IF;
  RETURN jsonb_build_object('rows', rows);
END $$;
REVOKE ALL ON FUNCTION pgapp_bridge.call(jsonb) FROM PUBLIC;

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
  fence bigint;
BEGIN
  -- A function call (pgapp_bridge.call), the fence bumped with it: it may have written.
  IF NEW.request ->> 'op' = 'CALL' THEN
    NEW.result := pgapp_bridge.call(NEW.request);
    IF (NEW.request ->> 'fence')::boolean THEN
      UPDATE pgapp_bridge.replica_fence f SET n = f.n + 1 WHERE f.slot = NEW.slot RETURNING f.n INTO fence;
      NEW.result := NEW.result || jsonb_build_object('fence', fence);
    END IF;
    RETURN NEW;
  END IF;
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
