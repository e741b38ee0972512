-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Per-user access ("access": "owner", the default for a table with the owner column, owner_id unless
-- "ownerColumn" says otherwise): who the caller is, and whom a write stamps as the owner. The rules
-- themselves are row-level security on each table (custom/api/050_api.sql), which these functions
-- serve; the oracle's PostgREST on rds gets the same functions (test/oracle/harness.ts).
DROP FUNCTION IF EXISTS rds_bridge.row_visible(text, bigint);
-- A reference's check is row-level security's now (custom/api/050_api.sql: pgapp_insert, pgapp_update).
DROP FUNCTION IF EXISTS rds_bridge.row_visible(jsonb, text[]);
DROP FUNCTION IF EXISTS rds_bridge.next_id(text);
-- The owner rules once were a row trigger on each foreign table: now they are part of every api
-- write (custom/api/020_write_through.sql), and no row trigger sits on a foreign table.
DROP FUNCTION IF EXISTS rds_bridge.enforce_owner() CASCADE;

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

-- The owner a write stamps on a per-user row (the owner column's default, custom/api/050_api.sql):
-- the caller's id. A signed-in caller whose token has none is refused, saying why; a session that is
-- no API caller (the superuser's psql) gets NULL: a shared row.
CREATE OR REPLACE FUNCTION rds_bridge.owner_of_write() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  me text := rds_bridge.current_user_id();
BEGIN
  IF me IS NULL AND current_user IN ('web_user', 'web_anon') THEN
    RAISE EXCEPTION 'this token carries no user id'
      USING ERRCODE = '42501', HINT = 'Writes need a web_user JWT with a "sub" claim (the user id), e.g. `pgapp token --claims ''{"sub":"alice"}''`.';
  END IF;
  RETURN me;
END $$;

REVOKE ALL ON FUNCTION rds_bridge.current_user_id(), rds_bridge.owner_of_write() FROM PUBLIC; -- granted to the API roles in custom/api
ALTER FUNCTION rds_bridge.owner_of_write() OWNER TO api_owner;
ALTER FUNCTION rds_bridge.current_user_id() OWNER TO api_owner;
