-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Every API write, in both read modes: an INSTEAD OF trigger on each writable api view (attached by
-- sync_api, 050_api.sql) applies the table's rules and makes the same write on its foreign table, in
-- the same request, returning the row rds wrote. No row trigger sits on a foreign table: postgres_fdw
-- would then send every column of an UPDATE, and the ones rds fills (declared generated) as DEFAULT —
-- a new id. So an UPDATE sends exactly the columns the request changed, and an INSERT leaves out the
-- columns rds fills (postgres_fdw sends DEFAULT for them).
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

-- The trigger. TG_ARGV[0]: {"target": the foreign table, "key": its primary key's columns,
-- "assigned": the columns rds fills, "fence": whether the view reads the replica, "owner": {"column",
-- "type"} or null, "refs": [{"columns": [...] (here), "noun": what one row is called, and
-- rds_bridge.row_visible's "target", "refColumns", "types", "owner", "ownerType"}]}.
CREATE OR REPLACE FUNCTION rds_replica.write_through() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  spec jsonb := TG_ARGV[0]::jsonb;
  target regclass := (spec ->> 'target')::regclass;
  by_key text := (SELECT string_agg(format('t.%I = ($2).%I', k, k), ' AND ') FROM jsonb_array_elements_text(spec -> 'key') k);
  owner_col text := spec -> 'owner' ->> 'column';
  claims json := nullif(current_setting('request.jwt.claims', true), '')::json;
  api_request boolean := current_user IN ('web_user', 'web_anon') OR coalesce(claims ->> 'role', '') IN ('web_user', 'web_anon');
  me text := rds_bridge.current_user_id();
  ref jsonb;
  vals text[];
  cols text;
  vals_sql text;
  result jsonb;
  fence_slot integer;
  fence_n bigint;
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
        IF NOT rds_bridge.row_visible(ref, vals) THEN
          RAISE EXCEPTION '% % does not exist', ref ->> 'noun', array_to_string(vals, ', ')
            USING ERRCODE = '23503',
                  DETAIL = format('%s must name a %s you can see: a shared one or your own.',
                                  (SELECT string_agg(c, ', ') FROM jsonb_array_elements_text(ref -> 'columns') c), ref ->> 'noun');
        END IF;
      END LOOP;
    END IF;
  END IF;

  IF TG_OP = 'INSERT' THEN
    SELECT string_agg(quote_ident(k), ', '), string_agg(format('($1).%I', k), ', ')
      INTO cols, vals_sql FROM jsonb_object_keys(to_jsonb(NEW)) k
     WHERE NOT (spec -> 'assigned') ? k;
    EXECUTE format('INSERT INTO %s AS t (%s) VALUES (%s) RETURNING to_jsonb(t.*)', target, cols, vals_sql)
      INTO result USING NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    -- Only the columns the request changed: another client's write that has not reached the replica
    -- yet is not overwritten with the replica's older values.
    SELECT string_agg(format('%I = ($1).%I', n.key, n.key), ', ') INTO cols
      FROM jsonb_each(to_jsonb(NEW)) n WHERE n.value IS DISTINCT FROM to_jsonb(OLD) -> n.key;
    IF cols IS NULL THEN
      RETURN NEW;
    END IF;
    EXECUTE format('UPDATE %s AS t SET %s WHERE %s RETURNING to_jsonb(t.*)', target, cols, by_key)
      INTO result USING NEW, OLD;
  ELSE
    EXECUTE format('DELETE FROM %s AS t WHERE %s RETURNING to_jsonb(t.*)', target, by_key)
      INTO result USING OLD, OLD;
  END IF;
  IF result IS NULL THEN
    RETURN NULL; -- gone from rds meanwhile: not counted, as with RLS
  END IF;
  -- Read-your-writes over the replica: once per transaction (and per caller), the fence, in the same
  -- rds transaction as the write.
  IF (spec ->> 'fence')::boolean AND me IS NOT NULL
     AND current_setting('rds_replica.fenced', true) IS DISTINCT FROM txid_current()::text THEN
    fence_slot := abs(hashtext(me)) % 64;
    UPDATE rds_bridge.replica_fence SET n = n + 1 WHERE slot = fence_slot RETURNING n INTO fence_n;
    INSERT INTO rds_replica.waits (sub, slot, n) VALUES (me, fence_slot, fence_n)
      ON CONFLICT (sub) DO UPDATE SET slot = excluded.slot, n = excluded.n;
    PERFORM set_config('rds_replica.fenced', txid_current()::text, true);
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN jsonb_populate_record(NEW, result);
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
REVOKE ALL ON FUNCTION rds_replica.write_through(), rds_replica.await_writes() FROM PUBLIC;
ALTER FUNCTION rds_replica.write_through() OWNER TO api_owner;
ALTER FUNCTION rds_replica.await_writes() OWNER TO api_owner;
GRANT USAGE ON SCHEMA rds_replica TO web_anon, web_user;
GRANT EXECUTE ON FUNCTION rds_replica.await_writes() TO web_anon, web_user;
