-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- What happens to a write. Every table on custom stands for rds's table (custom/bridge/050_tables.sql),
-- and a write to it — from PostgREST, or from anyone's SQL on custom — is made on rds, in the same
-- request, in one statement: rds_bridge.writes below, whose trigger on rds (pgapp_bridge.write,
-- rds-bridge/020_writes.sql) makes the INSERT, UPDATE or DELETE and returns the row it wrote.
--
--   rds_replica.write_through()  BEFORE INSERT, UPDATE or DELETE, each row of a table here: rds
--                         makes the write; the row rds wrote (ids, defaults and all) goes on as the
--                         row of this statement — what RETURNING, and so PostgREST, answers with.
--                         An INSERT names the columns the request named (rds fills the others),
--                         an upsert goes as one (ON CONFLICT as the request asked), an UPDATE sends
--                         the columns it changed; a row rds did not write is skipped here too.
--   rds_replica.forget_insert()  AFTER INSERT: the inserted row leaves this table again at once. A
--                         replica table gets it from rds (the subscription would find it already
--                         here and stop); an fdw table's own part stays empty.
-- An UPDATE or DELETE of an fdw table's rows goes to its foreign child (postgres_fdw: one statement
-- to rds) and never reaches these triggers. Per-user rows ("access": "owner") are row-level security
-- on the table (custom/api/050_api.sql); rds still has the last word on whose row a write changes.
-- The triggers fire for sessions, never for the subscription's own writes (session_replication_role).
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
-- X-Pgapp-Bridge: {"writes": [the rds table of each write, one statement each]} (a reference's check
-- is row-level security's: a read in the request's own plan). Only for a request that carries
-- x-pgapp-explain, which the gateway lets through only with the project's explain key.
CREATE OR REPLACE FUNCTION rds_replica.explain_note(kind text, what jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  noted jsonb;
BEGIN
  IF nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-pgapp-explain' IS NULL THEN
    RETURN;
  END IF;
  noted := coalesce(nullif(current_setting('rds_replica.explain', true), '')::jsonb, '{"writes": []}');
  noted := jsonb_set(noted, ARRAY[kind], (noted -> kind) || jsonb_build_array(what));
  PERFORM set_config('rds_replica.explain', noted::text, true);
  PERFORM set_config('response.headers', jsonb_build_array(jsonb_build_object('X-Pgapp-Bridge', noted::text))::text, true);
END $$;

-- What the statement writing `rel` asked for, from its text (current_query(): PostgREST's one
-- statement per request, `INSERT INTO "s"."t"("a", "b") … ON CONFLICT("a") DO UPDATE SET …`): the
-- columns it names, and its ON CONFLICT. NULL where the text is not such an INSERT of `rel` (a write
-- from a function, or psql): then every column goes but the NULL ones rds fills. Read once per
-- statement (track_activity_query_size on custom holds PostgREST's longest).
CREATE OR REPLACE FUNCTION rds_replica.statement_shape(rel regclass) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key text := statement_timestamp()::text || ' ' || rel::oid::text || ' ' || txid_current_if_assigned();
  q text;
  head text;
  i int;
  ident text := '"(?:[^"]|"")*"';
  list text;
  cols jsonb;
  conflict jsonb;
  m text[];
  shape jsonb;
BEGIN
  IF current_setting('rds_replica.shape_key', true) = key THEN
    RETURN nullif(current_setting('rds_replica.shape', true), '')::jsonb;
  END IF;
  q := current_query();
  SELECT format('INSERT INTO "%s"."%s"(', replace(n.nspname, '"', '""'), replace(c.relname, '"', '""')) INTO head
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel;
  i := strpos(q, head);
  -- A partition's row of an INSERT into its partitioned table (a replica's, partitioned as on rds).
  IF i = 0 AND pg_partition_root(rel) IS DISTINCT FROM rel THEN
    SELECT format('INSERT INTO "%s"."%s"(', replace(n.nspname, '"', '""'), replace(c.relname, '"', '""')) INTO head
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = pg_partition_root(rel);
    i := coalesce(strpos(q, head), 0);
  END IF;
  IF i > 0 THEN
    m := regexp_match(substr(q, i + length(head)), format('^(%1$s(?:, %1$s)*)\) ', ident));
    list := m[1];
    IF list IS NOT NULL THEN
      SELECT jsonb_agg(replace(substr(x[1], 2, length(x[1]) - 2), '""', '"')) INTO cols FROM regexp_matches(list, ident, 'g') x;
      m := regexp_match(substr(q, i + length(head) + length(list)), format(' ON CONFLICT\((%1$s(?:, %1$s)*)\) DO (UPDATE SET|NOTHING)', ident));
      IF m IS NOT NULL THEN
        conflict := jsonb_build_object(
          'target', (SELECT jsonb_agg(replace(substr(x[1], 2, length(x[1]) - 2), '""', '"')) FROM regexp_matches(m[1], ident, 'g') x),
          'action', CASE m[2] WHEN 'NOTHING' THEN 'nothing' ELSE 'update' END);
      END IF;
      shape := jsonb_build_object('columns', cols, 'conflict', conflict);
    END IF;
  END IF;
  PERFORM set_config('rds_replica.shape_key', key, true);
  PERFORM set_config('rds_replica.shape', coalesce(shape::text, ''), true);
  RETURN shape;
END $$;

-- The trigger. TG_ARGV[0]: {"table": the rds table, "key": its primary key's columns, "assigned": the
-- columns rds fills, "fence": whether the table reads the replica, "owner": {"column", "type"} or null}.
-- The write itself is one statement to rds: an UPDATE of rds_bridge.writes, which postgres_fdw sends
-- as it is, and whose trigger on rds (pgapp_bridge.write, rds-bridge/020_writes.sql) makes the
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
  me text := rds_bridge.current_user_id();
  shape jsonb;
  prefer text;
  row_key text;
  cols jsonb;
  match_cols jsonb;
  conflict jsonb;
  req jsonb;
  result jsonb;
  fence boolean;
  fence_slot integer;
  quiet text[];
  here boolean;
  rule text;
  allowed boolean;
  moving jsonb;
  stays boolean;
BEGIN
  -- pgapp's own bookkeeping here (forget_insert), never a write to rds.
  IF current_setting('rds_replica.local', true) = 'on' THEN
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP <> 'INSERT' AND jsonb_array_length(spec -> 'key') = 0 THEN
    RAISE EXCEPTION '% has no primary key: pgapp cannot tell rds which row to change', spec ->> 'table'
      USING ERRCODE = '55000', HINT = 'Give it a primary key on rds, or read it through postgres_fdw ("reads": "fdw"), whose writes go to rds as they are.';
  END IF;
  row_key := CASE WHEN TG_OP <> 'DELETE' THEN (SELECT jsonb_agg(to_jsonb(NEW) -> k) FROM jsonb_array_elements_text(spec -> 'key') k)::text END;
  -- An upsert this statement made on rds, found here too: ON CONFLICT's update here is the same row.
  IF TG_OP = 'UPDATE' AND current_setting('rds_replica.upserted', true) = TG_RELID::text || ' ' || row_key THEN
    PERFORM set_config('rds_replica.upserted', '', true);
    RETURN NEW;
  END IF;
  -- A row this statement's UPDATE moves to another partition here (a replica partitioned as on rds):
  -- Postgres deletes it from its partition and inserts it into the other, and rds's UPDATE (sent by
  -- the UPDATE's trigger, below) moved it there already: neither goes to rds. The row leaves here
  -- (forget_insert) and comes back from rds, which publishes the move as a delete and an insert.
  moving := nullif(current_setting('rds_replica.moving', true), '')::jsonb;
  IF moving ->> 'at' = statement_timestamp()::text AND moving ->> 'root' = pg_partition_root(TG_RELID)::text THEN
    IF TG_OP = 'DELETE' AND moving ->> 'old' = (SELECT jsonb_agg(to_jsonb(OLD) -> k) FROM jsonb_array_elements_text(spec -> 'key') k)::text THEN
      RETURN OLD;
    ELSIF TG_OP = 'INSERT' AND moving ->> 'new' = row_key THEN
      PERFORM set_config('rds_replica.moving', '', true);
      RETURN NEW;
    END IF;
  END IF;
  -- A per-user table's own rule for the row an API caller writes (its policy's WITH CHECK: the owner,
  -- and references only to rows the caller can see), before anything goes to rds: as on rds, the
  -- rule answers first — a reference to a row that is not there is the same refusal as to someone
  -- else's, never rds's foreign key error. (Postgres checks it again after this trigger.)
  IF TG_OP <> 'DELETE' AND jsonb_typeof(spec -> 'owner') = 'object' AND current_setting('role') IN ('web_user', 'web_anon') THEN
    SELECT pg_get_expr(pol.polwithcheck, pol.polrelid) INTO rule FROM pg_policy pol
    WHERE pol.polrelid = TG_RELID AND pol.polname = CASE TG_OP WHEN 'INSERT' THEN 'pgapp_insert' ELSE 'pgapp_update' END;
    IF rule IS NOT NULL THEN
      EXECUTE format('SELECT %s FROM (SELECT ($1).*) AS %I', rule, TG_TABLE_NAME) INTO allowed USING NEW;
      IF allowed IS NOT TRUE THEN
        RAISE EXCEPTION 'new row violates row-level security policy for table "%"', TG_TABLE_NAME USING ERRCODE = '42501';
      END IF;
    END IF;
  END IF;
  -- rds, not this copy, has the last word on whose row an UPDATE or DELETE changes.
  match_cols := CASE WHEN owner_col IS NOT NULL THEN (spec -> 'key') || to_jsonb(owner_col) ELSE spec -> 'key' END;

  IF TG_OP = 'INSERT' THEN
    shape := rds_replica.statement_shape(TG_RELID);
    prefer := coalesce(nullif(current_setting('request.headers', true), '')::jsonb ->> 'prefer', '');
    -- The columns the request named (the owner column too, which the table's default filled from the
    -- token): rds fills the others, as it would for the same INSERT. Without a statement to read it
    -- from, every column but the NULL ones rds fills, and never an identity GENERATED ALWAYS (here
    -- too, the value is this table's own, not the caller's). With `Prefer: missing=default` a named
    -- column rds fills and the request left out is rds's to fill too.
    SELECT coalesce(jsonb_agg(k), '[]') INTO cols FROM jsonb_object_keys(to_jsonb(NEW)) k
    WHERE CASE WHEN shape IS NOT NULL
               THEN (shape -> 'columns' ? k OR k = owner_col)
                    AND NOT (prefer ~ 'missing=default' AND spec -> 'assigned' ? k AND to_jsonb(NEW) -> k = 'null')
               ELSE NOT (spec -> 'assigned' ? k AND to_jsonb(NEW) -> k = 'null')
                    AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attname = k
                                    AND (a.attidentity = 'a' OR a.attgenerated <> '')) END;
    conflict := shape -> 'conflict';
    IF jsonb_typeof(conflict) = 'object' AND owner_col IS NOT NULL THEN
      conflict := conflict || jsonb_build_object('match', jsonb_build_array(owner_col));
    END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    -- Only the columns the request changed: another client's write that has not reached the replica
    -- yet is not overwritten with the replica's older values.
    -- A generated column is not among them: in a BEFORE trigger it is not computed yet (NULL here),
    -- and rds computes its own.
    SELECT jsonb_agg(n.key) INTO cols FROM jsonb_each(to_jsonb(NEW)) n
    WHERE n.value IS DISTINCT FROM to_jsonb(OLD) -> n.key
      AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attname = n.key AND a.attgenerated <> '');
    IF cols IS NULL THEN
      RETURN NEW;
    END IF;
  END IF;
  -- Read-your-writes over the replica: once per transaction (and per caller), the fence, in the same
  -- rds transaction as the write (the slot is the caller's; any slot serves a write without a fence).
  fence := (spec ->> 'fence')::boolean AND me IS NOT NULL
           AND current_setting('rds_replica.fenced', true) IS DISTINCT FROM txid_current()::text;
  fence_slot := CASE WHEN me IS NULL THEN 0 ELSE abs(hashtext(me)) % 64 END;
  -- The tables whose rows the caller (the role the request set; this function runs as its owner) may
  -- not all see — row-level security on for it, or no SELECT —: this one and those referencing it. A
  -- refusal from rds then shows no values of theirs, as Postgres shows none to that caller on rds.
  quiet := ARRAY(SELECT n.nspname || '.' || c.relname
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_roles u ON u.rolname = CASE current_setting('role') WHEN 'none' THEN session_user ELSE current_setting('role') END
                 WHERE c.oid IN (SELECT TG_RELID UNION SELECT k.conrelid FROM pg_constraint k WHERE k.confrelid = TG_RELID AND k.contype = 'f')
                   AND NOT u.rolsuper
                   AND ((c.relrowsecurity AND NOT u.rolbypassrls AND (c.relforcerowsecurity OR NOT pg_has_role(u.oid, c.relowner, 'USAGE')))
                        OR NOT has_table_privilege(u.oid, c.oid, 'SELECT')));
  req := jsonb_build_object(
    'op', TG_OP, 'table', spec ->> 'table', 'columns', cols, 'match', match_cols, 'fence', fence, 'conflict', conflict,
    'quiet', CASE WHEN cardinality(quiet) > 0 THEN to_jsonb(quiet) END,
    'names', ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
    'row', CASE WHEN TG_OP <> 'DELETE' THEN NEW::text END,
    'old', CASE WHEN TG_OP <> 'INSERT' THEN OLD::text END);
  UPDATE rds_bridge.writes SET request = req WHERE slot = fence_slot RETURNING writes.result INTO result;
  PERFORM rds_replica.explain_note('writes', spec -> 'table');
  IF result -> 'row' IS NULL OR result -> 'row' = 'null' THEN
    RETURN NULL; -- not written: gone from rds meanwhile, not the caller's there, or an upsert's DO NOTHING
  END IF;
  IF fence THEN
    INSERT INTO rds_replica.waits (sub, slot, n) VALUES (me, fence_slot, (result ->> 'fence')::bigint)
      ON CONFLICT (sub) DO UPDATE SET slot = excluded.slot, n = excluded.n;
    PERFORM set_config('rds_replica.fenced', txid_current()::text, true);
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  NEW := jsonb_populate_record(NEW, result -> 'row');
  -- (Only a row that leaves its partition here: Postgres moves it right after this trigger.)
  IF TG_OP = 'UPDATE' AND pg_partition_root(TG_RELID) IS DISTINCT FROM TG_RELID AND pg_partition_root(TG_RELID) IS NOT NULL THEN
    EXECUTE format('SELECT %s FROM (SELECT ($1).*) AS %I', pg_get_partition_constraintdef(TG_RELID), TG_TABLE_NAME) INTO stays USING NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND stays IS NOT TRUE AND pg_partition_root(TG_RELID) IS DISTINCT FROM TG_RELID AND pg_partition_root(TG_RELID) IS NOT NULL THEN
    PERFORM set_config('rds_replica.moving', jsonb_build_object(
      'at', statement_timestamp()::text, 'root', pg_partition_root(TG_RELID)::text,
      'old', (SELECT jsonb_agg(to_jsonb(OLD) -> k) FROM jsonb_array_elements_text(spec -> 'key') k)::text,
      'new', (SELECT jsonb_agg(to_jsonb(NEW) -> k) FROM jsonb_array_elements_text(spec -> 'key') k)::text)::text, true);
  END IF;
  IF conflict ->> 'action' = 'update' THEN
    PERFORM set_config('rds_replica.upserted',
                       TG_RELID::text || ' ' || (SELECT jsonb_agg(to_jsonb(NEW) -> k) FROM jsonb_array_elements_text(spec -> 'key') k)::text, true);
    -- PostgREST answers 201 when a row of an upsert was new, 200 when every one was updated, and
    -- counts them (pgrst.inserted) by this table's ON CONFLICT: where it finds the row here. What
    -- rds did is what counts — an fdw table's own part never has the row, a replica may not yet.
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %s t WHERE %s)', TG_RELID::regclass,
                   (SELECT string_agg(format('t.%1$I = ($1).%1$I', c), ' AND ') FROM jsonb_array_elements_text(conflict -> 'target') c))
      INTO here USING NEW;
    IF here = (result ->> 'inserted')::boolean THEN
      PERFORM set_config('pgrst.inserted',
                         (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) + CASE WHEN here THEN 1 ELSE -1 END)::text, true);
    END IF;
  END IF;
  RETURN NEW;
END $$;

-- The inserted row leaves this table again (its own part, ONLY: an fdw table's foreign child holds
-- rds's rows) once the statement has answered with it: a replica table receives it from rds. As the
-- superuser, who owns the tables: row-level security must not hide the row from its own removal.
CREATE OR REPLACE FUNCTION rds_replica.forget_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  spec jsonb := TG_ARGV[0]::jsonb;
BEGIN
  IF current_setting('rds_replica.local', true) = 'on' THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('rds_replica.local', 'on', true);
  IF jsonb_array_length(spec -> 'key') = 0 THEN
    EXECUTE format('DELETE FROM ONLY %s', TG_RELID::regclass);
  ELSE
    EXECUTE format('DELETE FROM ONLY %s t WHERE %s', TG_RELID::regclass,
                   (SELECT string_agg(format('t.%1$I IS NOT DISTINCT FROM ($1).%1$I', k), ' AND ') FROM jsonb_array_elements_text(spec -> 'key') k))
      USING NEW;
  END IF;
  PERFORM set_config('rds_replica.local', 'off', true);
  RETURN NULL;
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
REVOKE ALL ON FUNCTION rds_replica.write_through(), rds_replica.forget_insert(), rds_replica.statement_shape(regclass),
  rds_replica.await_writes(), rds_replica.explain_note(text, jsonb) FROM PUBLIC;
ALTER FUNCTION rds_replica.explain_note(text, jsonb) OWNER TO api_owner;
ALTER FUNCTION rds_replica.write_through() OWNER TO api_owner;
-- forget_insert is the superuser's: it removes a row the caller's row-level security may not let it see.
ALTER FUNCTION rds_replica.statement_shape(regclass) OWNER TO api_owner;
ALTER FUNCTION rds_replica.await_writes() OWNER TO api_owner;
GRANT USAGE ON SCHEMA rds_replica TO web_anon, web_user;
GRANT EXECUTE ON FUNCTION rds_replica.await_writes() TO web_anon, web_user;
