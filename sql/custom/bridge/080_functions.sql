-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- rds's functions on custom, from rds's catalog (rds-bridge/030_catalog.sql, "functions"), after the
-- views: sync_functions(), a step of every `dev`, one transaction. PostgREST on custom then serves
-- each at /rpc/<name> with rds's own signature (named parameters, defaults, variadic, overloads) and
-- result (scalar, SETOF, a table's rows, RETURNS TABLE, OUT parameters, void), and its volatility
-- (GET for stable ones, POST for all). Where it runs:
--   custom  a STABLE or IMMUTABLE function in SQL or PL/pgSQL, made here from rds's definition: it
--           reads what the tables read (the replica: local speed), as the caller, under the caller's
--           rules. One that does not hold here (it reads what is not mirrored) runs on rds.
--   rds     a VOLATILE function (it may write): a function here of the same signature sends the call
--           to rds in the request's own rds transaction (pgapp_bridge.writes, as every write), bumps
--           the read-your-writes fence, and answers with rds's rows. One that only reads but cannot
--           run here is called on rds over a connection of its own (dblink: a GET is read-only here).
--           On rds it runs as the bridge user — with the bridge's rights, not the caller's: who may
--           call one is sync_api's ("access", custom/api/050_api.sql).
-- A function of yours at the same signature (db/custom) wins: pgapp leaves it alone from then on.
GRANT USAGE ON SCHEMA pgapp_fdw TO api_owner;
GRANT EXECUTE ON FUNCTION pgapp_fdw.dblink(text, text), pgapp_fdw.dblink_connect(text, text),
  pgapp_fdw.dblink_disconnect(text), pgapp_fdw.dblink_get_connections() TO api_owner;

DROP FUNCTION IF EXISTS pgapp_private.catalog_functions();
CREATE FUNCTION pgapp_private.catalog_functions()
RETURNS TABLE (rel text, call_as text, def jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT format('%s.%s', x ->> 'schema', x ->> 'name'), x ->> 'callAs', x
  FROM pgapp_private.catalog c, jsonb_array_elements(coalesce(c.doc -> 'functions', '[]')) x
$$;

-- What sync_functions made of each.
CREATE TABLE IF NOT EXISTS pgapp_private.functions (
  call_as   text PRIMARY KEY,   -- rds's function, as GRANT names it ('public.film_in_stock(integer, integer)')
  rel       text NOT NULL,      -- its schema and name ('public.film_in_stock'): "tables" settings name it so
  runs      text,               -- 'custom' or 'rds'
  volatility "char" NOT NULL,
  security_definer boolean NOT NULL,
  tables    text[] NOT NULL,    -- the rds tables whose rows it takes or returns
  made      boolean NOT NULL,
  note      text
);
REVOKE ALL ON pgapp_private.functions FROM PUBLIC;

-- The call to rds, for a function of rds's made here to call it (below). writes: in the request's rds
-- transaction (pgapp_bridge.writes), the fence bumped when `fence`; else over this session's own
-- connection to rds (dblink), for a read-only transaction. Returns the rows rds's function gave.
CREATE OR REPLACE FUNCTION rds_bridge.call_rds(fn text, args jsonb, writes boolean, fence boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me text := rds_bridge.current_user_id();
  req jsonb := jsonb_build_object('op', 'CALL', 'function', fn, 'args', args,
                                  'claims', nullif(current_setting('request.jwt.claims', true), ''));
  fence_slot integer := CASE WHEN me IS NULL THEN 0 ELSE abs(hashtext(me)) % 64 END;
  result jsonb;
BEGIN
  IF writes THEN
    fence := fence AND me IS NOT NULL;
    -- One statement that postgres_fdw sends as it is (a value, not an expression, to set).
    req := req || jsonb_build_object('fence', fence);
    UPDATE rds_bridge.writes SET request = req WHERE slot = fence_slot RETURNING writes.result INTO result;
    IF fence THEN
      INSERT INTO rds_replica.waits (sub, slot, n) VALUES (me, fence_slot, (result ->> 'fence')::bigint)
        ON CONFLICT (sub) DO UPDATE SET slot = excluded.slot, n = excluded.n;
    END IF;
    RETURN result -> 'rows';
  END IF;
  IF NOT coalesce('pgapp_rds' = ANY (pgapp_fdw.dblink_get_connections()), false) THEN
    PERFORM pgapp_fdw.dblink_connect('pgapp_rds', 'rds');
  END IF;
  BEGIN
    SELECT x.r INTO result FROM pgapp_fdw.dblink('pgapp_rds', format('SELECT pgapp_bridge.call(%L::jsonb)', req)) AS x(r jsonb);
  EXCEPTION WHEN connection_exception THEN
    -- The session's connection died (rds restarted since): once more, over a new one.
    PERFORM pgapp_fdw.dblink_disconnect('pgapp_rds');
    PERFORM pgapp_fdw.dblink_connect('pgapp_rds', 'rds');
    SELECT x.r INTO result FROM pgapp_fdw.dblink('pgapp_rds', format('SELECT pgapp_bridge.call(%L::jsonb)', req)) AS x(r jsonb);
  END;
  RETURN result -> 'rows';
END $$;
REVOKE ALL ON FUNCTION rds_bridge.call_rds(text, jsonb, boolean, boolean) FROM PUBLIC;
ALTER FUNCTION rds_bridge.call_rds(text, jsonb, boolean, boolean) OWNER TO api_owner;

-- The function here that calls rds's (`f`, an entry of the catalog's "functions"): the same signature
-- and result; its inputs go to rds in their text form, rds's rows come back in the result's types.
-- NULL when its result has no shape custom can rebuild (an anonymous record, a pseudo-type).
CREATE OR REPLACE FUNCTION pgapp_private.remote_function_sql(f jsonb, fence boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
DECLARE
  writes boolean := f ->> 'volatility' = 'v';
  inputs text := (SELECT coalesce(string_agg(format('$%s::text', p ->> 'position'), ', ' ORDER BY (p ->> 'position')::int), '')
                  FROM jsonb_array_elements(f -> 'parameters') p WHERE p ->> 'mode' IN ('i', 'b', 'v'));
  outputs text := (SELECT string_agg(format('%I %s', p ->> 'name', p ->> 'type'), ', ' ORDER BY (p ->> 'position')::int)
                   FROM jsonb_array_elements(f -> 'parameters') p WHERE p ->> 'mode' IN ('o', 'b', 't'));
  unnamed_out boolean := EXISTS (SELECT 1 FROM jsonb_array_elements(f -> 'parameters') p WHERE p ->> 'mode' IN ('o', 'b', 't') AND p ->> 'name' IS NULL);
  back text;
BEGIN
  back := CASE
    WHEN f ->> 'returnsKind' = 'void' THEN 'RETURN;'
    WHEN f ->> 'returnsKind' = 'scalar' AND (f ->> 'set')::boolean
      THEN format('RETURN QUERY SELECT x.%1$I FROM jsonb_to_recordset(res) AS x(%1$I %2$s);', f ->> 'name', f ->> 'returns')
    WHEN f ->> 'returnsKind' = 'scalar'
      THEN format('RETURN (SELECT x.%1$I FROM jsonb_to_recordset(res) AS x(%1$I %2$s) LIMIT 1);', f ->> 'name', f ->> 'returns')
    WHEN f ->> 'returnsKind' = 'composite' AND (f ->> 'set')::boolean
      THEN format('RETURN QUERY SELECT * FROM jsonb_populate_recordset(NULL::%s, res);', f ->> 'returns')
    WHEN f ->> 'returnsKind' = 'composite'
      THEN format('RETURN jsonb_populate_record(NULL::%s, res -> 0);', f ->> 'returns')
    WHEN f ->> 'returnsKind' = 'record' AND NOT unnamed_out AND (f ->> 'set')::boolean
      THEN format('RETURN QUERY SELECT * FROM jsonb_to_recordset(res) AS x(%s);', outputs)
    WHEN f ->> 'returnsKind' = 'record' AND NOT unnamed_out
      THEN format('SELECT * INTO %s FROM jsonb_to_recordset(res) AS x(%s) LIMIT 1; RETURN;',
                  (SELECT string_agg(quote_ident(p ->> 'name'), ', ' ORDER BY (p ->> 'position')::int)
                   FROM jsonb_array_elements(f -> 'parameters') p WHERE p ->> 'mode' IN ('o', 'b', 't')), outputs)
  END;
  IF back IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN format(E'CREATE FUNCTION %s.%I(%s) RETURNS %s LANGUAGE plpgsql %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS %L',
                quote_ident(f ->> 'schema'), f ->> 'name', f ->> 'arguments', f ->> 'result',
                CASE WHEN writes THEN 'VOLATILE' WHEN f ->> 'volatility' = 's' THEN 'STABLE' ELSE 'IMMUTABLE' END,
                format(E'#variable_conflict use_column\nDECLARE\n  res jsonb;\nBEGIN\n  res := rds_bridge.call_rds(%L, jsonb_build_array(%s), %s, %s);\n  %s\nEND',
                       f ->> 'callAs', inputs, writes::text, fence::text, back));
END $$;

CREATE OR REPLACE FUNCTION pgapp_private.sync_functions() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  modes jsonb := (SELECT coalesce(jsonb_object_agg(t.rel, pgapp_private.table_mode(t.def)), '{}') FROM pgapp_private.catalog_tables() t);
  fence boolean := EXISTS (SELECT 1 FROM jsonb_each_text(modes) m WHERE m.value = 'replica');
  fns jsonb := (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.call_as), '[]') FROM pgapp_private.catalog_functions() x);
  hash text := md5(fns::text || modes::text);
  f record;
  obj text;
  ddl text;
  why text;
  fn_tables text[];
  pending jsonb[];
  progress boolean;
  mine text[];
  made text[] := '{}';
BEGIN
  IF hash = (SELECT s.hash FROM pgapp_private.sync_state s WHERE s.step = 'functions')
     AND NOT EXISTS (SELECT 1 FROM pgapp_private.generated g WHERE g.kind = 'rds function' AND NOT pgapp_private.generated_intact(g)) THEN
    RETURN jsonb_build_object('changed', false, 'functions', jsonb_array_length(fns));
  END IF;
  -- Anything changed: every function pgapp made goes (one of yours in its place is only forgotten,
  -- with its grants), and all are made again. Their access goes with them (sync_api makes it again).
  mine := ARRAY(SELECT g.object FROM pgapp_private.generated g WHERE g.kind = 'rds function');
  FOREACH obj IN ARRAY mine LOOP
    IF pgapp_private.generated_intact((SELECT g FROM pgapp_private.generated g WHERE g.object = obj)) THEN
      PERFORM pgapp_private.drop_generated('access ' || obj);
    ELSE
      DELETE FROM pgapp_private.generated WHERE object = 'access ' || obj;
    END IF;
    PERFORM pgapp_private.drop_generated(obj);
  END LOOP;
  -- (An earlier pgapp listed them as not served.)
  DELETE FROM pgapp_private.functions;
  DELETE FROM pgapp_private.sync_state WHERE step = 'api';

  -- Made here where they hold: in rounds, as one may call another made after it.
  pending := ARRAY(SELECT x FROM jsonb_array_elements(fns) x
                   WHERE x -> 'def' ->> 'volatility' <> 'v' AND x -> 'def' ->> 'language' IN ('sql', 'plpgsql'));
  LOOP
    progress := false;
    FOR i IN 1 .. coalesce(array_length(pending, 1), 0) LOOP
      CONTINUE WHEN pending[i] IS NULL;
      CONTINUE WHEN to_regprocedure(pending[i] ->> 'call_as') IS NOT NULL; -- yours (below)
      BEGIN
        EXECUTE pending[i] -> 'def' ->> 'definition';
        EXECUTE format('ALTER FUNCTION %s OWNER TO api_owner', pending[i] ->> 'call_as');
        PERFORM pgapp_private.remember('function ' || (pending[i] ->> 'call_as'), 'rds function', '{}', pending[i] -> 'def' ->> 'definition');
        INSERT INTO pgapp_private.functions (call_as, rel, runs, volatility, security_definer, tables, made)
        VALUES (pending[i] ->> 'call_as', pending[i] ->> 'rel', 'custom', (pending[i] -> 'def' ->> 'volatility')::"char",
                (pending[i] -> 'def' ->> 'securityDefiner')::boolean, '{}', true);
        pending[i] := NULL;
        progress := true;
      EXCEPTION WHEN OTHERS THEN
        NULL; -- another round, or rds
      END;
    END LOOP;
    EXIT WHEN NOT progress;
  END LOOP;

  FOR f IN SELECT x.* FROM jsonb_to_recordset(fns) AS x(rel text, call_as text, def jsonb) LOOP
    -- The rds tables whose rows it takes or returns (a computed column's table): it goes before them.
    fn_tables := ARRAY(SELECT DISTINCT t.rel FROM pgapp_private.catalog_tables() t
                    WHERE format('%I.%I', t.schema, t.name) IN (SELECT p ->> 'type' FROM jsonb_array_elements(f.def -> 'parameters') p
                                                                UNION ALL SELECT f.def ->> 'returns'));
    IF EXISTS (SELECT 1 FROM pgapp_private.functions x WHERE x.call_as = f.call_as) THEN
      UPDATE pgapp_private.functions x SET tables = fn_tables WHERE x.call_as = f.call_as;
      UPDATE pgapp_private.generated g SET tables = fn_tables WHERE g.object = 'function ' || f.call_as;
      made := made || f.call_as;
      CONTINUE;
    END IF;
    -- Something of yours (db/custom) at its signature: yours wins.
    CONTINUE WHEN to_regprocedure(f.call_as) IS NOT NULL;
    why := CASE WHEN f.def ->> 'volatility' = 'v' THEN 'volatile: it may write, so it runs on rds'
                WHEN f.def ->> 'language' NOT IN ('sql', 'plpgsql') THEN format('in %s, which custom runs differently: it runs on rds', f.def ->> 'language')
                ELSE 'its definition does not hold on custom (it reads what pgapp does not mirror): it runs on rds' END;
    ddl := pgapp_private.remote_function_sql(f.def, fence);
    IF ddl IS NULL THEN
      INSERT INTO pgapp_private.functions (call_as, rel, runs, volatility, security_definer, tables, made, note)
      VALUES (f.call_as, f.rel, NULL, (f.def ->> 'volatility')::"char", (f.def ->> 'securityDefiner')::boolean, fn_tables, false,
              format('returns %s, which custom cannot rebuild from rds''s answer', f.def ->> 'result'));
      CONTINUE;
    END IF;
    BEGIN
      EXECUTE ddl;
      EXECUTE format('ALTER FUNCTION %s OWNER TO api_owner', f.call_as);
      PERFORM pgapp_private.remember('function ' || f.call_as, 'rds function', fn_tables, ddl);
      INSERT INTO pgapp_private.functions (call_as, rel, runs, volatility, security_definer, tables, made, note)
      VALUES (f.call_as, f.rel, 'rds', (f.def ->> 'volatility')::"char", (f.def ->> 'securityDefiner')::boolean, fn_tables, true, why);
      made := made || f.call_as;
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO pgapp_private.functions (call_as, rel, runs, volatility, security_definer, tables, made, note)
      VALUES (f.call_as, f.rel, NULL, (f.def ->> 'volatility')::"char", (f.def ->> 'securityDefiner')::boolean, fn_tables, false,
              format('custom cannot declare it: %s', SQLERRM));
    END;
  END LOOP;

  INSERT INTO pgapp_private.sync_state AS s (step, hash) VALUES ('functions', hash)
  ON CONFLICT (step) DO UPDATE SET hash = excluded.hash;
  RETURN jsonb_build_object('changed', true, 'functions', jsonb_array_length(fns), 'made', to_jsonb(made),
                            'rds', (SELECT coalesce(jsonb_agg(x.call_as ORDER BY x.call_as), '[]') FROM pgapp_private.functions x WHERE x.runs = 'rds'));
END $$;
REVOKE ALL ON FUNCTION pgapp_private.catalog_functions(), pgapp_private.remote_function_sql(jsonb, boolean),
  pgapp_private.sync_functions() FROM PUBLIC;
