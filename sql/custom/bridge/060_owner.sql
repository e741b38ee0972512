-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Per-user access ("access": "owner", the default for a table with the owner column, owner_id unless
-- "ownerColumn" says otherwise): who the caller is, and whether a referenced row is one they may
-- see. The rules themselves are applied by every API write (custom/api/020_write_through.sql) and by
-- the api views' filter (shared rows and your own, custom/api/050_api.sql).
DROP FUNCTION IF EXISTS rds_bridge.row_visible(text, bigint);
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

-- Can the caller see the row that `ref` points at, whose referenced columns hold `vals`? `ref`:
-- {"target": where the API reads that table (its replica table, or what stands for it, or its foreign
-- table), "refColumns": [...], "types": [...], "owner": its owner column, "ownerType": its type}. As
-- api_owner (which reads all of them), for the trigger; the caller is the token's, never an argument.
CREATE OR REPLACE FUNCTION rds_bridge.row_visible(ref jsonb, vals text[]) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found boolean;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %s AND (%I IS NULL OR %I = $2::%s))',
                 ref ->> 'target',
                 (SELECT string_agg(format('%I = ($1[%s])::%s', c, i, ref -> 'types' ->> (i - 1)::int), ' AND ')
                    FROM jsonb_array_elements_text(ref -> 'refColumns') WITH ORDINALITY AS x(c, i)),
                 ref ->> 'owner', ref ->> 'owner', ref ->> 'ownerType')
    INTO found USING vals, rds_bridge.current_user_id();
  RETURN found;
END $$;

REVOKE ALL ON FUNCTION rds_bridge.row_visible(jsonb, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION rds_bridge.current_user_id(), rds_bridge.owner_of_write() FROM PUBLIC; -- granted to the API roles in custom/api
ALTER FUNCTION rds_bridge.owner_of_write() OWNER TO api_owner;
ALTER FUNCTION rds_bridge.current_user_id() OWNER TO api_owner;
ALTER FUNCTION rds_bridge.row_visible(jsonb, text[]) OWNER TO api_owner;
