-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Read-only api views (the cache, jobs) get this INSTEAD OF trigger. Without one, a POST, PATCH or
-- DELETE on a view Postgres cannot update fails in the rewriter ("cannot insert into view", a 500
-- through PostgREST) before privileges are checked; with it, the API roles' missing privilege
-- answers first (401/403). Anyone who does hold the privilege gets a clear 405.
CREATE OR REPLACE FUNCTION pgapp_private.read_only_view() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  RAISE SQLSTATE 'PGRST' USING
    MESSAGE = json_build_object('code', 'PGAPP405', 'message', format('%s is read-only', TG_TABLE_NAME))::text,
    DETAIL = json_build_object('status', 405, 'headers', json_build_object('Allow', 'GET, HEAD'))::text;
END $$;
REVOKE ALL ON FUNCTION pgapp_private.read_only_view() FROM PUBLIC;
