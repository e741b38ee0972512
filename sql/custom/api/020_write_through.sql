-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Every API write, in both read modes: an INSTEAD OF trigger on each writable api view (attached by
-- sync_api, 050_api.sql) applies the table's rules and has rds make the same write, in the same
-- request, in one statement (rds_bridge.writes, below), returning the row rds wrote. An INSERT names
-- every column but those rds fills, which rds then fills itself; an UPDATE sends exactly the columns
-- the request changed. (The foreign tables, which your own SQL may write, declare the columns rds
-- fills as generated so that postgres_fdw sends DEFAULT for them.)
--
-- Per-user rows ("access": "owner", custom/bridge/060_owner.sql's rules), for API requests only — an
-- API role, or a request's token inside a SECURITY DEFINER function; the developer's own sessions
-- (superuser, api_owner, pg_cron) are not restricted:
--   INSERT  the owner column := the JWT's `sub`; no `sub`, no write
--   UPDATE  only your own rows (others are skipped, as RLS would); the owner cannot change
--   DELETE  only your own rows
--   any     a reference — each of rds's foreign keys to another owner table — must name a row you
--           can see: a shared one (no owner) or your own. Someone else's private row answers exactly
--           as a row that does not exist, and since nobody else can point at your private rows,
--           deleting one of them (and what rds cascades from it) never touches another user's rows.
--
-- reads: replica — read-your-writes: the write also bumps a fence counter on rds (pgapp_bridge.replica_fence, one of
-- 64 slots by the caller's user id) in the same rds transaction, and records the value it reached.
-- On the caller's next request PostgREST's pre-request function (rds_replica.await_writes, the
-- postgrest service's PGRST_DB_PRE_REQUEST) waits until the replicated fence has reached it: rds
-- applies a transaction's rows together, so the write is then visible here too. Needs nothing from
-- rds but logical replication: it works the same against a real RDS (rds.logical_replication = 1).
CREATE SCHEMA IF NOT EXISTS rds_replica AUTHORIZATION api_owner;
REVOKE ALL ON SCHEMA rds_replica FROM PUBLIC;
-- Unlogged: lost on a crash, when a read can no more be "next" to a write anyway.
CREATE UNLOGGED TABLE IF NOT EXISTS rds_replica.waits (sub text PRIMARY KEY, slot integer NOT NULL, n bigint NOT NULL);
ALTER TABLE rds_replica.waits OWNER TO api_owner;
REVOKE ALL ON rds_replica.waits FROM PUBLIC;

-- `pgapp explain` of a write: what the request sent to rds, as PostgREST's response header
-- X-Pgapp-Bridge: {"writes": [the rds table of each write, one statement each], "checks": [{"table",
-- "on": where the reference was looked up: "replica", "rds" (a remote query) or "replica + rds" (a
-- filtered replica)}]}. Only for a request that carries x-pgapp-explain, which the gateway lets
-- through only with the project's explain key.
CREATE OR REPLACE FUNCTION rds_replica.explain_note(kind text, what jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  noted jsonb;
BEGIN
  IF nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-pgapp-explain' IS NULL THEN
    RETURN;
  END IF;
  noted := coalesce(nullif(current_setting('rds_replica.explain', true), '')::jsonb, '{"writes": [], "checks": []}');
  noted := jsonb_set(noted, ARRAY[kind], (noted -> kind) || jsonb_build_array(what));
  PERFORM set_config('rds_replica.explain', noted::text, true);
  PERFORM set_config('response.headers', jsonb_build_array(jsonb_build_object('X-Pgapp-Bridge', noted::text))::text, true);
END $$;

-- The trigger. TG_ARGV[0]: {"table": the rds table, "key": its primary key's columns, "assigned": the
-- columns rds fills, "fence": whether the view reads the replica, "owner": {"column", "type"} or null,
-- "refs": [{"columns": [...] (here), "noun": what one row is called, "table" (rds's) and "on" (where
-- the check reads it, for `pgapp explain`), and rds_bridge.row_visible's "target", "refColumns",
-- "types", "owner", "ownerType"}]}.
-- The write itself is one statement to rds: an UPDATE of rds_bridge.writes, which postgres_fdw sends
-- as it is, and whose trigger on rds (pgapp_bridge.write, rds-bridge/010_bridge.sql) makes the
-- INSERT, UPDATE or DELETE and bumps the fence, returning the row rds wrote. With postgres_fdw's own
-- START TRANSACTION and COMMIT, three statements per request (BENCHMARKS.md, "remote round trips").
-- A fence slot two writers share at once makes the later one's rds transaction (REPEATABLE READ under
-- postgres_fdw) fail with 40001: PostgREST runs the request again (hasql-transaction retries it).
-- The rows go as record literals, each column in its type's text form (pgapp_bridge.write reads
-- them as its table's rows), written in the forms postgres_fdw uses too: ISO dates, postgres
-- intervals, floats exact.
CREATE OR REPLACE FUNCTION rds_replica.write_through() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET DateStyle = 'ISO' SET IntervalStyle = 'postgres' SET extra_float_digits = 3 AS $$
DECLARE
  spec jsonb := TG_ARGV[0]::jsonb;
  owner_col text := spec -> 'owner' ->> 'column';
  claims json := nullif(current_setting('request.jwt.claims', true), '')::json;
  api_request boolean := current_user IN ('web_user', 'web_anon') OR coalesce(claims ->> 'role', '') IN ('web_user', 'web_anon');
  me text := rds_bridge.current_user_id();
  ref jsonb;
  vals text[];
  cols jsonb;
  match_cols jsonb;
  req jsonb;
  result jsonb;
  fence boolean;
  fence_slot integer;
BEGIN
  IF owner_col IS NOT NULL AND api_request THEN
    IF me IS NULL THEN
      RAISE EXCEPTION 'this token carries no user id'
        USING ERRCODE = '42501', HINT = 'Writes need a web_user JWT with a "sub" claim (the user id), e.g. `pgapp token --claims ''{"sub":"alice"}''`.';
    END IF;
    -- As the column's type prints it (a uuid in lower case), so the comparison is the type's.
    IF TG_OP <> 'INSERT' AND (to_jsonb(OLD) -> owner_col = 'null' OR to_jsonb(OLD) -> owner_col IS DISTINCT FROM
                              to_jsonb(jsonb_populate_record(OLD, jsonb_build_object(owner_col, me))) -> owner_col) THEN
      RETURN NULL; -- not yours (or shared): skipped, not an error (like row-level security)
    END IF;
    IF TG_OP <> 'DELETE' THEN
      NEW := jsonb_populate_record(NEW, jsonb_build_object(owner_col, me));
      FOR ref IN SELECT jsonb_array_elements(spec -> 'refs') LOOP
        vals := ARRAY(SELECT to_jsonb(NEW) ->> c FROM jsonb_array_elements_text(ref -> 'columns') c);
        -- A reference left empty, or unchanged by an update, needs no look.
        CONTINUE WHEN array_position(vals, NULL) IS NOT NULL
          OR (TG_OP = 'UPDATE' AND vals IS NOT DISTINCT FROM ARRAY(SELECT to_jsonb(OLD) ->> c FROM jsonb_array_elements_text(ref -> 'columns') c));
        PERFORM rds_replica.explain_note('checks', jsonb_build_object('table', ref ->> 'table', 'on', ref ->> 'on'));
        IF NOT rds_bridge.row_visible(ref, vals) THEN
          RAISE EXCEPTION '% % does not exist', ref ->> 'noun', array_to_string(vals, ', ')
            USING ERRCODE = '23503',
                  DETAIL = format('%s must name a %s you can see: a shared one or your own.',
                                  (SELECT string_agg(c, ', ') FROM jsonb_array_elements_text(ref -> 'columns') c), ref ->> 'noun');
        END IF;
      END LOOP;
    END IF;
    -- rds, not this copy, has the last word on whose row an UPDATE or DELETE changes.
    match_cols := (spec -> 'key') || to_jsonb(owner_col);
  ELSE
    match_cols := spec -> 'key';
  END IF;

  IF TG_OP = 'INSERT' THEN
    -- Every column but those rds fills (it fills them: identity, serial, generated, its defaults).
    SELECT coalesce(jsonb_agg(k), '[]') INTO cols FROM jsonb_object_keys(to_jsonb(NEW)) k WHERE NOT (spec -> 'assigned') ? k;
  ELSIF TG_OP = 'UPDATE' THEN
    -- Only the columns the request changed: another client's write that has not reached the replica
    -- yet is not overwritten with the replica's older values.
    SELECT jsonb_agg(n.key) INTO cols FROM jsonb_each(to_jsonb(NEW)) n WHERE n.value IS DISTINCT FROM to_jsonb(OLD) -> n.key;
    IF cols IS NULL THEN
      RETURN NEW;
    END IF;
  END IF;
  -- Read-your-writes over the replica: once per transaction (and per caller), the fence, in the same
  -- rds transaction as the write (the slot is the caller's; any slot serves a write without a fence).
  fence := (spec ->> 'fence')::boolean AND me IS NOT NULL
           AND current_setting('rds_replica.fenced', true) IS DISTINCT FROM txid_current()::text;
  fence_slot := CASE WHEN me IS NULL THEN 0 ELSE abs(hashtext(me)) % 64 END;
  req := jsonb_build_object(
    'op', TG_OP, 'table', spec ->> 'table', 'columns', cols, 'match', match_cols, 'fence', fence,
    'names', ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
    'row', CASE WHEN TG_OP <> 'DELETE' THEN NEW::text END,
    'old', CASE WHEN TG_OP <> 'INSERT' THEN OLD::text END);
  UPDATE rds_bridge.writes SET request = req WHERE slot = fence_slot RETURNING writes.result INTO result;
  PERFORM rds_replica.explain_note('writes', spec -> 'table');
  IF result -> 'row' IS NULL OR result -> 'row' = 'null' THEN
    RETURN NULL; -- gone from rds meanwhile (or, on rds, not yours): not counted, as with RLS
  END IF;
  IF fence THEN
    INSERT INTO rds_replica.waits (sub, slot, n) VALUES (me, fence_slot, (result ->> 'fence')::bigint)
      ON CONFLICT (sub) DO UPDATE SET slot = excluded.slot, n = excluded.n;
    PERFORM set_config('rds_replica.fenced', txid_current()::text, true);
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN jsonb_populate_record(NEW, result -> 'row');
END $$;

-- PostgREST's pre-request: before a request of a user who wrote, wait until the replica has their
-- last write (at most 5 s; then 503 and `pgapp status` shows the lag). Anonymous requests and
-- users with nothing pending return at once (one index lookup).
CREATE OR REPLACE FUNCTION rds_replica.await_writes() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me text := rds_bridge.current_user_id();
  w record;
  got bigint;
  deadline timestamptz;
BEGIN
  IF me IS NULL THEN
    RETURN;
  END IF;
  SELECT slot, n INTO w FROM rds_replica.waits WHERE sub = me;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  deadline := clock_timestamp() + interval '5 s';
  LOOP
    -- A new snapshot per statement (READ COMMITTED): each look sees what replication applied since.
    SELECT f.n INTO got FROM pgapp_bridge.replica_fence f WHERE f.slot = w.slot;
    EXIT WHEN got >= w.n;
    IF clock_timestamp() > deadline THEN
      RAISE SQLSTATE 'PT503' USING
        MESSAGE = 'the local replica has not caught up with your last write within 5 s',
        DETAIL = format('replica fence %s at %s, your write at %s', w.slot, coalesce(got::text, 'missing'), w.n),
        HINT = 'Replication from rds is stopped or lagging: `pgapp status` shows it, `pgapp dev` repairs it.';
    END IF;
    PERFORM pg_sleep(0.001);
  END LOOP;
END $$;
REVOKE ALL ON FUNCTION rds_replica.write_through(), rds_replica.await_writes(), rds_replica.explain_note(text, jsonb) FROM PUBLIC;
ALTER FUNCTION rds_replica.explain_note(text, jsonb) OWNER TO api_owner;
ALTER FUNCTION rds_replica.write_through() OWNER TO api_owner;
ALTER FUNCTION rds_replica.await_writes() OWNER TO api_owner;
GRANT USAGE ON SCHEMA rds_replica TO web_anon, web_user;
GRANT EXECUTE ON FUNCTION rds_replica.await_writes() TO web_anon, web_user;
