-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Per-user access ("access": "owner", the default for a table with the owner column, owner_id unless
-- "ownerColumn" says otherwise), enforced in the database. A BEFORE ROW trigger on the table's foreign
-- table (RLS cannot apply to foreign tables), attached by sync_api (custom/api/050_api.sql), makes
-- every API write honest:
--   INSERT  the owner column := the JWT's `sub`; no `sub`, no write
--   UPDATE  only your own rows (others are skipped, as RLS would); the owner cannot change
--   DELETE  only your own rows
--   any     a reference — each of rds's foreign keys to another owner table — must name a row you
--           can see: a shared one (no owner) or your own. Someone else's private row answers exactly
--           as a row that does not exist, and since nobody else can point at your private rows,
--           deleting one of them (and what rds cascades from it) never touches another user's rows.
-- Reads are filtered by the api views: shared rows and your own.
-- Only API requests are restricted — an API role, or a request's token (also inside the SECURITY
-- DEFINER functions that write for it, custom/api/020_write_through.sql): the developer's own
-- sessions (superuser, api_owner, pg_cron) are not.
DROP FUNCTION IF EXISTS rds_bridge.row_visible(text, bigint);
DROP FUNCTION IF EXISTS rds_bridge.next_id(text);

-- The caller's user id: the `sub` claim PostgREST puts in request.jwt.claims — for a web_user
-- token only (identity comes with that role; a web_anon token naming a `sub` is anonymous).
CREATE OR REPLACE FUNCTION rds_bridge.current_user_id() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  claims json := nullif(current_setting('request.jwt.claims', true), '')::json;
  me text := nullif(claims ->> 'sub', '');
BEGIN
  IF claims IS NULL OR claims ->> 'role' IS DISTINCT FROM 'web_user' THEN
    RETURN NULL;
  END IF;
  IF length(me) > 128 THEN
    RAISE EXCEPTION 'the token''s "sub" claim is longer than 128 characters'
      USING ERRCODE = '28000', HINT = 'A user id is at most 128 characters.';
  END IF;
  RETURN me;
END $$;

-- Can the caller see the row of a foreign table that `ref` points at, whose referenced columns hold
-- `vals`? `ref`: {"target": foreign table, "refColumns": [...], "types": [...], "owner": its owner
-- column, "ownerType": its type}. As api_owner (its user mapping reaches rds), for the trigger; the
-- caller is the token's, never an argument.
CREATE OR REPLACE FUNCTION rds_bridge.row_visible(ref jsonb, vals text[]) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found boolean;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %s AND (%I IS NULL OR %I = $2::%s))',
                 (ref ->> 'target')::regclass,
                 (SELECT string_agg(format('%I = ($1[%s])::%s', c, i, ref -> 'types' ->> (i - 1)::int), ' AND ')
                    FROM jsonb_array_elements_text(ref -> 'refColumns') WITH ORDINALITY AS x(c, i)),
                 ref ->> 'owner', ref ->> 'owner', ref ->> 'ownerType')
    INTO found USING vals, rds_bridge.current_user_id();
  RETURN found;
END $$;

-- The trigger. TG_ARGV[0]: {"owner": column, "ownerType": type, "refs": [{"columns": [...] (in this
-- table), "noun": what one referenced row is called, and row_visible's ref}]}.
CREATE OR REPLACE FUNCTION rds_bridge.enforce_owner() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  spec jsonb := TG_ARGV[0]::jsonb;
  owner_col text := spec ->> 'owner';
  me text := rds_bridge.current_user_id();
  ref jsonb;
  new_row jsonb;
  old_row jsonb;
  vals text[];
BEGIN
  IF current_user NOT IN ('web_user', 'web_anon')
     AND coalesce(nullif(current_setting('request.jwt.claims', true), '')::json ->> 'role', '') NOT IN ('web_user', 'web_anon') THEN
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF me IS NULL THEN
    RAISE EXCEPTION 'this token carries no user id'
      USING ERRCODE = '42501', HINT = 'Writes need a web_user JWT with a "sub" claim (the user id), e.g. `pgapp token --claims ''{"sub":"alice"}''`.';
  END IF;
  IF TG_OP <> 'INSERT' THEN
    old_row := to_jsonb(OLD);
    -- As the column's type prints it (a uuid in lower case), so the comparison is the type's.
    IF old_row ->> owner_col IS NULL
       OR old_row -> owner_col IS DISTINCT FROM to_jsonb(jsonb_populate_record(OLD, jsonb_build_object(owner_col, me))) -> owner_col THEN
      RETURN NULL; -- not yours: skipped, not an error (like row-level security)
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  NEW := jsonb_populate_record(NEW, jsonb_build_object(owner_col, me));
  new_row := to_jsonb(NEW);
  FOR ref IN SELECT jsonb_array_elements(spec -> 'refs') LOOP
    vals := ARRAY(SELECT new_row ->> c FROM jsonb_array_elements_text(ref -> 'columns') c);
    -- A reference left empty, or unchanged by an update, needs no look.
    CONTINUE WHEN array_position(vals, NULL) IS NOT NULL
      OR (TG_OP = 'UPDATE' AND vals IS NOT DISTINCT FROM ARRAY(SELECT old_row ->> c FROM jsonb_array_elements_text(ref -> 'columns') c));
    IF NOT rds_bridge.row_visible(ref, vals) THEN
      RAISE EXCEPTION '% % does not exist', ref ->> 'noun', array_to_string(vals, ', ')
        USING ERRCODE = '23503',
              DETAIL = format('%s must name a %s you can see: a shared one or your own.',
                              (SELECT string_agg(c, ', ') FROM jsonb_array_elements_text(ref -> 'columns') c), ref ->> 'noun');
    END IF;
  END LOOP;
  RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION rds_bridge.enforce_owner(), rds_bridge.row_visible(jsonb, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION rds_bridge.current_user_id() FROM PUBLIC; -- granted to the API roles in custom/api
ALTER FUNCTION rds_bridge.current_user_id() OWNER TO api_owner;
ALTER FUNCTION rds_bridge.enforce_owner() OWNER TO api_owner;
ALTER FUNCTION rds_bridge.row_visible(jsonb, text[]) OWNER TO api_owner;
