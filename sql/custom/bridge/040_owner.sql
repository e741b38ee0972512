-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Per-user access, enforced in the database. rds's owner_id column (imported with the foreign
-- tables), and a BEFORE ROW trigger on each (RLS cannot apply to foreign tables) make every API
-- write honest:
--   INSERT  owner_id := the JWT's `sub`; no `sub`, no write
--   UPDATE  only your own rows (others are skipped, as RLS would); owner_id cannot change
--   DELETE  only your own rows
--   any     a reference (company_id, contact_id, deal_id) must name a row you can see: a shared one
--           or your own. Someone else's private row answers exactly as a row that does not exist,
--           and since nobody else can point at your private rows, deleting one of them (and what
--           rds cascades from it) never touches another user's rows.
-- Reads are filtered by the api views (020_api.sql): shared rows (no owner) and your own.
-- Only API requests are restricted — an API role, or a request's token (also inside the SECURITY
-- DEFINER functions that write for it, custom/api/040_replica.sql): the developer's own sessions
-- (superuser, api_owner, pg_cron) are not.

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

-- Can the caller see row `id` of rds_crm.<tbl>? As api_owner (its user mapping reaches rds), for the
-- trigger; the caller is the token's, never an argument.
DROP FUNCTION IF EXISTS rds_bridge.row_visible(text, bigint, text);
CREATE OR REPLACE FUNCTION rds_bridge.row_visible(tbl text, id bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found boolean;
BEGIN
  IF tbl NOT IN ('companies', 'contacts', 'deals', 'activities') THEN
    RAISE EXCEPTION 'row_visible: unknown table %', tbl;
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM rds_crm.%I WHERE id = $1 AND (owner_id IS NULL OR owner_id = $2))', tbl)
    INTO found USING id, rds_bridge.current_user_id();
  RETURN found;
END $$;
REVOKE ALL ON FUNCTION rds_bridge.row_visible(text, bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION rds_bridge.enforce_owner() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me text := rds_bridge.current_user_id();
  -- Each table's references: column -> [table it points at, what one row of it is called].
  refs jsonb := '{"contacts":   {"company_id": ["companies", "company"]},
                  "deals":      {"company_id": ["companies", "company"], "contact_id": ["contacts", "contact"]},
                  "activities": {"contact_id": ["contacts", "contact"], "deal_id": ["deals", "deal"]}}';
  ref record;
  val bigint;
BEGIN
  IF current_user NOT IN ('web_user', 'web_anon')
     AND coalesce(nullif(current_setting('request.jwt.claims', true), '')::json ->> 'role', '') NOT IN ('web_user', 'web_anon') THEN
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF me IS NULL THEN
    RAISE EXCEPTION 'this token carries no user id'
      USING ERRCODE = '42501', HINT = 'Writes need a web_user JWT with a "sub" claim (the user id), e.g. `pgapp token --claims ''{"sub":"alice"}''`.';
  END IF;
  IF TG_OP <> 'INSERT' AND OLD.owner_id IS DISTINCT FROM me THEN
    RETURN NULL; -- not yours: skipped, not an error (like row-level security)
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  NEW.owner_id := me;
  FOR ref IN SELECT key AS col, value ->> 0 AS target, value ->> 1 AS noun
             FROM jsonb_each(coalesce(refs -> TG_TABLE_NAME, '{}'))
  LOOP
    val := (to_jsonb(NEW) ->> ref.col)::bigint;
    CONTINUE WHEN val IS NULL OR (TG_OP = 'UPDATE' AND val IS NOT DISTINCT FROM (to_jsonb(OLD) ->> ref.col)::bigint);
    IF NOT rds_bridge.row_visible(ref.target, val) THEN
      RAISE EXCEPTION '% % does not exist', ref.noun, val
        USING ERRCODE = '23503', DETAIL = format('%s must name a %s you can see: a shared one or your own.', ref.col, ref.noun);
    END IF;
  END LOOP;
  RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION rds_bridge.enforce_owner() FROM PUBLIC;
REVOKE ALL ON FUNCTION rds_bridge.current_user_id() FROM PUBLIC; -- granted to the API roles in custom/api

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['companies', 'contacts', 'deals', 'activities'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS enforce_owner ON rds_crm.%I', t);
    EXECUTE format('CREATE TRIGGER enforce_owner BEFORE INSERT OR UPDATE OR DELETE ON rds_crm.%I
                    FOR EACH ROW EXECUTE FUNCTION rds_bridge.enforce_owner()', t);
  END LOOP;
END $$;
ALTER FUNCTION rds_bridge.current_user_id() OWNER TO api_owner;
ALTER FUNCTION rds_bridge.enforce_owner() OWNER TO api_owner;
ALTER FUNCTION rds_bridge.row_visible(text, bigint) OWNER TO api_owner;
