-- Per-user access, enforced in the database. rds's owner_id column (imported with the foreign
-- tables), and a BEFORE ROW trigger on each (RLS cannot apply to foreign tables) make every API
-- write honest:
--   INSERT  owner_id := the JWT's `sub` (whatever the client sent); no `sub`, no write
--   UPDATE  only your own rows (others are skipped, as RLS would); owner_id cannot change
--   DELETE  only your own rows
-- Reads are filtered by the api views (020_api.sql): shared rows (no owner) and your own.
-- Only API roles are restricted: the developer's own sessions (superuser, api_owner) are not.

-- The caller's user id: the `sub` claim PostgREST puts in request.jwt.claims.
CREATE FUNCTION rds_bridge.current_user_id() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT nullif(current_setting('request.jwt.claims', true)::json ->> 'sub', '')
$$;

CREATE FUNCTION rds_bridge.enforce_owner() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me text := rds_bridge.current_user_id();
BEGIN
  IF current_user NOT IN ('web_user', 'web_anon') THEN
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF me IS NULL THEN
    RAISE EXCEPTION 'this token carries no user id'
      USING ERRCODE = '42501', HINT = 'Writes need a JWT with a "sub" claim (the user id), e.g. `pgapp token --claims ''{"sub":"alice"}''`.';
  END IF;
  IF TG_OP = 'INSERT' THEN
    NEW.owner_id := me;
    RETURN NEW;
  END IF;
  IF OLD.owner_id IS DISTINCT FROM me THEN
    RETURN NULL; -- not yours: skipped, not an error (like row-level security)
  END IF;
  IF TG_OP = 'UPDATE' THEN
    NEW.owner_id := me;
    RETURN NEW;
  END IF;
  RETURN OLD;
END $$;
REVOKE ALL ON FUNCTION rds_bridge.enforce_owner() FROM PUBLIC;
REVOKE ALL ON FUNCTION rds_bridge.current_user_id() FROM PUBLIC; -- granted to the API roles in custom/api

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['companies', 'contacts', 'deals', 'activities'] LOOP
    EXECUTE format('CREATE TRIGGER enforce_owner BEFORE INSERT OR UPDATE OR DELETE ON rds_crm.%I
                    FOR EACH ROW EXECUTE FUNCTION rds_bridge.enforce_owner()', t);
  END LOOP;
END $$;
ALTER FUNCTION rds_bridge.current_user_id() OWNER TO api_owner;
ALTER FUNCTION rds_bridge.enforce_owner() OWNER TO api_owner;
