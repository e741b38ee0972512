-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- reads: replica — the api views read the local replica (schema crm, kept in sync from rds by logical
-- replication, src/stack/replica.ts); every write still goes to rds, through postgres_fdw, in the
-- same request, and returns the row rds wrote.
--
-- Read-your-writes: the write also bumps a fence counter on rds (pgapp_bridge.replica_fence, one of
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

-- INSTEAD OF INSERT/UPDATE/DELETE on an api view: the same write on rds_crm.<view> (the owner
-- trigger there still stamps and checks ownership, for the token's user), then the fence.
CREATE OR REPLACE FUNCTION rds_replica.write_through() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  cols text;
  vals text;
  result jsonb;
  me text := rds_bridge.current_user_id();
  fence_slot integer;
  fence_n bigint;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT string_agg(quote_ident(k), ', '), string_agg(format('($1).%I', k), ', ')
      INTO cols, vals FROM jsonb_object_keys(to_jsonb(NEW)) k;
    EXECUTE format('INSERT INTO rds_crm.%I AS t (%s) VALUES (%s) RETURNING to_jsonb(t.*)', TG_TABLE_NAME, cols, vals)
      INTO result USING NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    -- Only the columns the request changed: another client's write that has not reached the replica
    -- yet is not overwritten with the replica's older values.
    SELECT string_agg(format('%I = ($1).%I', n.key, n.key), ', ') INTO cols
      FROM jsonb_each(to_jsonb(NEW)) n WHERE n.value IS DISTINCT FROM to_jsonb(OLD) -> n.key;
    IF cols IS NULL THEN
      RETURN NEW;
    END IF;
    EXECUTE format('UPDATE rds_crm.%I AS t SET %s WHERE t.id = $2 RETURNING to_jsonb(t.*)', TG_TABLE_NAME, cols)
      INTO result USING NEW, OLD.id;
  ELSE
    EXECUTE format('DELETE FROM rds_crm.%I AS t WHERE t.id = $1 RETURNING to_jsonb(t.*)', TG_TABLE_NAME)
      INTO result USING OLD.id;
  END IF;
  IF result IS NULL THEN
    RETURN NULL; -- not written (not the caller's row, or gone from rds): not counted, as with RLS
  END IF;
  -- Once per transaction (and per caller): the fence, in the same rds transaction as the write.
  IF me IS NOT NULL AND current_setting('rds_replica.fenced', true) IS DISTINCT FROM txid_current()::text THEN
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

-- The triggers, and the views' defaults a trigger needs (an INSTEAD OF view fills none itself):
-- the foreign tables' (ids from rds's sequences, created_at now()). FDW reads: neither.
DO $$
DECLARE
  t text;
  d record;
BEGIN
  FOREACH t IN ARRAY ARRAY['companies', 'contacts', 'deals', 'activities'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS write_through ON api.%I', t);
    FOR d IN SELECT a.attname, pg_get_expr(ad.adbin, ad.adrelid) AS expr
             FROM pg_attribute a JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
             WHERE a.attrelid = format('rds_crm.%I', t)::regclass
               AND EXISTS (SELECT 1 FROM pg_attribute v WHERE v.attrelid = format('api.%I', t)::regclass
                           AND v.attname = a.attname AND NOT v.attisdropped)
    LOOP
      IF current_setting('pgapp.reads') = 'replica' THEN
        EXECUTE format('ALTER VIEW api.%I ALTER COLUMN %I SET DEFAULT %s', t, d.attname, d.expr);
      ELSE
        EXECUTE format('ALTER VIEW api.%I ALTER COLUMN %I DROP DEFAULT', t, d.attname);
      END IF;
    END LOOP;
    IF current_setting('pgapp.reads') = 'replica' THEN
      EXECUTE format('CREATE TRIGGER write_through INSTEAD OF INSERT OR UPDATE OR DELETE ON api.%I
                      FOR EACH ROW EXECUTE FUNCTION rds_replica.write_through()', t);
    END IF;
  END LOOP;
END $$;
