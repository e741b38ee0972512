-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Who may do what: each endpoint's access, as statements — the same on custom (sync_api, 050_api.sql,
-- runs them) and on the oracle's rds (test/oracle/harness.ts runs what sync_api recorded), so the one
-- rule is written once. Tables (access_sql: grants, and for "owner" row-level security), rds's views
-- (plan_views, view_access_sql) and functions (plan_functions, function_access_sql).
-- This file changed (a newer pgapp): whatever sync_api made is made again.
DELETE FROM pgapp_private.sync_state WHERE step = 'api';

-- Why an endpoint is not served, when "tables" says so.
CREATE OR REPLACE FUNCTION pgapp_private.access_note(access text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT CASE WHEN access = 'none' THEN 'served to nobody ("access": "none")' END
$$;

-- Who may do what to one table (`p`, an entry of the plan), as statements: grants by name, the
-- owner column's default (the caller, from the token), and for "owner" row-level security. The same
-- statements give PostgREST pointed at rds the same rules (the test oracle: test/oracle/harness.ts).
CREATE OR REPLACE FUNCTION pgapp_private.access_sql(p jsonb) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  oc text := p -> 'owner' ->> 'name';
  me text := format('(SELECT rds_bridge.current_user_id())%s', CASE WHEN p -> 'owner' ->> 'type' = 'uuid' THEN '::uuid' ELSE '' END);
  cols text := (SELECT string_agg(format('%I', x), ', ') FROM jsonb_array_elements_text(p -> 'writable') x);
  refs text;
  st text;
  out text[] := '{}';
BEGIN
  -- The table, and each of its partitions: an endpoint of its own on rds, with the same rules (on rds's
  -- too, the oracle's). Where the table is not partitioned here (read through postgres_fdw) its
  -- partitions are not here either: their statements are then for rds's alone (made where they exist).
  FOR st IN SELECT p ->> 'st'
            UNION ALL
            SELECT format('%I.%I', x ->> 'schema', x ->> 'name') FROM jsonb_array_elements(coalesce(nullif(p -> 't' -> 'partitions', 'null'), '[]')) x LOOP
    IF st <> p ->> 'st' AND NOT pgapp_private.partitioned_here(p -> 't', p ->> 'reads') THEN
      out := out || ARRAY(SELECT format('DO $where_it_exists$ BEGIN IF to_regclass(%L) IS NOT NULL THEN EXECUTE %L; END IF; END $where_it_exists$', st, x)
                          FROM unnest(pgapp_private.access_sql(p - 't' || jsonb_build_object('st', st, 't', (p -> 't') - 'partitions'))) x);
      CONTINUE;
    END IF;
    out := out || format('REVOKE ALL ON %s FROM PUBLIC, web_anon, web_user', st);
    CONTINUE WHEN p ->> 'access' = 'none';
    out := out || format('GRANT SELECT ON %s TO web_anon, web_user', st);
    IF p ->> 'access' IN ('write', 'owner') THEN
      out := out || format('GRANT DELETE ON %s TO web_user', st);
      IF cols IS NOT NULL THEN
        out := out || format('GRANT INSERT (%2$s), UPDATE (%2$s) ON %1$s TO web_user', st, cols);
      END IF;
    END IF;
    CONTINUE WHEN p ->> 'access' <> 'owner';
    -- A reference to another owner table names a row the caller can see there (its rules apply to the
    -- look): a shared one or their own — someone else's private row is as good as missing.
    SELECT string_agg(format('(%s OR EXISTS (SELECT 1 FROM %s r WHERE %s))',
                             (SELECT string_agg(format('%I IS NULL', c), ' OR ') FROM jsonb_array_elements_text(k -> 'columns') c),
                             format('%I.%I', k ->> 'refSchema', k ->> 'refTable'),
                             (SELECT string_agg(format('r.%I = %s.%I', rc, st, c), ' AND ')
                                FROM jsonb_array_elements_text(k -> 'columns') WITH ORDINALITY AS a(c, i)
                                JOIN jsonb_array_elements_text(k -> 'refColumns') WITH ORDINALITY AS b(rc, j) ON i = j)), ' AND ' ORDER BY k ->> 'name')
      INTO refs
      FROM jsonb_array_elements(p -> 't' -> 'constraints') k
     WHERE k ->> 'kind' = 'f' AND (p -> 'owners') ? format('%s.%s', k ->> 'refSchema', k ->> 'refTable');
    out := out || ARRAY[
      format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT rds_bridge.owner_of_write()%s', st, oc,
             CASE WHEN p -> 'owner' ->> 'type' = 'uuid' THEN '::uuid' ELSE '' END),
      format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', st),
      format('CREATE POLICY pgapp_read ON %s FOR SELECT TO web_anon, web_user, api_owner USING (%I IS NULL OR %I = %s)', st, oc, oc, me),
      format('CREATE POLICY pgapp_insert ON %s FOR INSERT TO web_user, api_owner WITH CHECK (%I = %s%s)', st, oc, me, coalesce(' AND ' || refs, '')),
      format('CREATE POLICY pgapp_update ON %s FOR UPDATE TO web_user, api_owner USING (%I = %s) WITH CHECK (%I = %s%s)', st, oc, me, oc, me, coalesce(' AND ' || refs, '')),
      format('CREATE POLICY pgapp_delete ON %s FOR DELETE TO web_user, api_owner USING (%I = %s)', st, oc, me)];
  END LOOP;
  RETURN out;
END $$;

-- The plan for rds's views (what bridge/070_views.sql made of each, pgapp_private.views): per view
-- {rel, st, name, schema, kind, reads, access, note, local, reads_directly}. "access" as "tables"
-- says for it, by default "read"; "write" where rds's view takes writes (a simple view; its writes
-- go to its table, and through that table's trigger to rds); "owner" is a table's only. A view read
-- from rds as it is (reads 'rds') shows what rds's view shows its owner, which pgapp's per-user rules
-- cannot narrow: over a table not every caller may read whole ("owner", "none") it is served to
-- nobody unless "tables" says otherwise.
CREATE OR REPLACE FUNCTION pgapp_private.plan_views(tables_plan jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  overrides jsonb := current_setting('pgapp.tables')::jsonb;
  v record;
  access text;
  narrow text;
  note text;
  plan jsonb := '[]';
BEGIN
  FOR v IN SELECT w.*, split_part(w.rel, '.', 1) AS schema, substr(w.rel, length(split_part(w.rel, '.', 1)) + 2) AS name
           FROM pgapp_private.views w WHERE w.made ORDER BY w.rel LOOP
    access := overrides -> v.rel ->> 'access';
    note := NULL;
    IF access = 'owner' THEN
      RAISE EXCEPTION '"tables" gives view % "access": "owner", which only a table with an owner column can have', v.rel
        USING HINT = 'A view over an owner table already shows each caller their own rows: give it "read" (the default).';
    ELSIF access = 'write' AND v.updatable & 28 = 0 THEN
      RAISE EXCEPTION '"tables" gives view % "access": "write", but rds''s view takes no writes', v.rel
        USING HINT = 'Only a simple view (one table, no aggregates or joins) takes writes; give it "read".';
    ELSIF access = 'write' AND v.reads <> 'rds'
          AND pg_relation_is_updatable(format('%I.%I', v.schema, v.name)::regclass, true) & 28 = 0 THEN
      RAISE EXCEPTION '"tables" gives view % "access": "write", but its writes are INSTEAD OF triggers on rds, which custom does not have', v.rel
        USING HINT = 'Give it "read"; write to its tables (or through a function of rds''s) instead.';
    END IF;
    IF access IS NULL THEN
      access := 'read';
      IF v.reads = 'rds' THEN
        SELECT string_agg(x ->> 'rel', ', ') INTO narrow FROM jsonb_array_elements(tables_plan) x
        WHERE x ->> 'rel' = ANY (v.tables) AND x ->> 'access' IN ('owner', 'none');
        IF narrow IS NOT NULL THEN
          access := 'none';
          note := format('read from rds as it is, over %s, whose rows not every caller may see: served to nobody ("tables": {"%s": {"access": "read"}} serves it as rds''s view shows them)', narrow, v.rel);
        END IF;
      END IF;
    END IF;
    plan := plan || jsonb_build_object(
      'rel', v.rel, 'st', format('%I.%I', v.schema, v.name), 'name', v.name, 'schema', v.schema, 'kind', v.kind,
      'reads', v.reads, 'access', access, 'local', v.reads <> 'rds', 'readsDirectly', to_jsonb(v.reads_directly),
      'note', coalesce(note, pgapp_private.access_note(access)));
  END LOOP;
  RETURN plan;
END $$;

-- Who may do what to one view (an entry of plan_views), as statements — on custom, and the same on
-- the oracle's rds. A view made here is api_owner's (it reads what it reads as api_owner, under the
-- caller's rules), and api_owner reads (for "write": writes) what it names.
CREATE OR REPLACE FUNCTION pgapp_private.view_access_sql(v jsonb) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  st text := v ->> 'st';
  r text;
  out text[] := '{}';
BEGIN
  IF (v ->> 'local')::boolean THEN
    -- (An owner must be able to create in the schema; custom gives api_owner that on rds's schemas.)
    out := out || format('GRANT USAGE, CREATE ON SCHEMA %I TO api_owner', v ->> 'schema')
               || format('ALTER TABLE %s OWNER TO api_owner', st);
    FOR r IN SELECT DISTINCT split_part(x, '.', 1) FROM jsonb_array_elements_text(v -> 'readsDirectly') x LOOP
      out := out || format('GRANT USAGE ON SCHEMA %I TO api_owner', r);
    END LOOP;
    FOR r IN SELECT jsonb_array_elements_text(v -> 'readsDirectly') LOOP
      out := out || format('GRANT SELECT%s ON %I.%I TO api_owner', CASE WHEN v ->> 'access' = 'write' THEN ', INSERT, UPDATE, DELETE' ELSE '' END,
                           split_part(r, '.', 1), substr(r, length(split_part(r, '.', 1)) + 2));
    END LOOP;
  END IF;
  out := out || format('REVOKE ALL ON %s FROM PUBLIC, web_anon, web_user', st);
  IF v ->> 'access' <> 'none' THEN
    out := out || format('GRANT SELECT ON %s TO web_anon, web_user', st);
  END IF;
  IF v ->> 'access' = 'write' THEN
    out := out || format('GRANT INSERT, UPDATE, DELETE ON %s TO web_user', st);
  END IF;
  RETURN out;
END $$;

-- The plan for rds's functions (what bridge/080_functions.sql made of each, pgapp_private.functions):
-- per function {callAs, rel, access, note}. "access", as "tables" says for its name (every overload):
-- read — anyone calls it; write — web_user (signed in) calls it; none — nobody. By default "read",
-- but for a function that runs on rds as the bridge user with the bridge's rights rather than the
-- caller's (not SECURITY DEFINER there): that one only where "tables" says so.
CREATE OR REPLACE FUNCTION pgapp_private.plan_functions() RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  overrides jsonb := current_setting('pgapp.tables')::jsonb;
  f record;
  access text;
  note text;
  plan jsonb := '[]';
BEGIN
  FOR f IN SELECT * FROM pgapp_private.functions x WHERE x.made ORDER BY x.call_as LOOP
    access := overrides -> f.rel ->> 'access';
    note := NULL;
    IF access = 'owner' THEN
      RAISE EXCEPTION '"tables" gives function % "access": "owner", which only a table with an owner column can have', f.rel
        USING HINT = 'For a function: "read" (anyone calls it), "write" (signed-in callers), or "none".';
    END IF;
    IF access IS NULL THEN
      IF f.runs = 'rds' AND NOT f.security_definer THEN
        access := 'none';
        note := format('runs on rds as pgapp''s bridge user, with its rights rather than the caller''s: served to nobody until "tables": {"%s": {"access": "write"}} (signed-in callers) or "read" (anyone)', f.rel);
      ELSE
        access := 'read';
      END IF;
    END IF;
    plan := plan || jsonb_build_object('callAs', f.call_as, 'rel', f.rel, 'access', access, 'runs', f.runs, 'tables', to_jsonb(f.tables),
                                       'note', coalesce(note, pgapp_private.access_note(access)));
  END LOOP;
  RETURN plan;
END $$;

-- Who may call one function (an entry of plan_functions), as statements: on custom, and the same on
-- the oracle's rds.
CREATE OR REPLACE FUNCTION pgapp_private.function_access_sql(f jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT ARRAY[format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, web_anon, web_user', f ->> 'callAs')]
      || CASE f ->> 'access' WHEN 'read' THEN ARRAY[format('GRANT EXECUTE ON FUNCTION %s TO web_anon, web_user', f ->> 'callAs')]
                             WHEN 'write' THEN ARRAY[format('GRANT EXECUTE ON FUNCTION %s TO web_user', f ->> 'callAs')]
                             ELSE '{}'::text[] END
$$;

REVOKE ALL ON FUNCTION pgapp_private.access_note(text), pgapp_private.access_sql(jsonb), pgapp_private.plan_views(jsonb),
  pgapp_private.view_access_sql(jsonb), pgapp_private.plan_functions(), pgapp_private.function_access_sql(jsonb) FROM PUBLIC;
