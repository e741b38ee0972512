-- pgapp test's helpers on custom (installed by `pgapp test` before each file, in the state the file
-- starts from; the snapshot restored after the run takes them away again). A test acts as an API
-- caller exactly as PostgREST makes one: the role, the claims as `request.jwt.claims`, and the
-- pre-request function (rds_replica.await_writes: the caller's earlier writes are in the replica).
--
--   SELECT pgapp_test.as_user('alice');   -- web_user with sub "alice": owner rules, write-through
--   SELECT pgapp_test.as_anon();          -- web_anon
--   SELECT pgapp_test.next_request();     -- a new request by the same caller (read-your-writes)
--   SELECT pgapp_test.as_superuser();     -- back to the test's own login
CREATE SCHEMA IF NOT EXISTS pgapp_test;
GRANT USAGE ON SCHEMA pgapp_test, pgtap TO web_anon, web_user;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgtap TO web_anon, web_user;

-- SECURITY INVOKER (a definer function may not change the role): run by the test's superuser login.
CREATE OR REPLACE FUNCTION pgapp_test.as_caller(role text, claims jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  PERFORM set_config('role', 'none', false);
  PERFORM set_config('request.jwt.claims', claims::text, false);
  PERFORM set_config('role', role, false);
  PERFORM rds_replica.await_writes();
  RETURN format('%s%s', role, coalesce(' ' || (claims ->> 'sub'), ''));
END $$;

CREATE OR REPLACE FUNCTION pgapp_test.as_user(sub text, claims jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql SET search_path = pg_catalog AS $$
  SELECT pgapp_test.as_caller('web_user', claims || jsonb_build_object('role', 'web_user', 'sub', sub))
$$;

CREATE OR REPLACE FUNCTION pgapp_test.as_anon() RETURNS text
LANGUAGE sql SET search_path = pg_catalog AS $$
  SELECT pgapp_test.as_caller('web_anon', jsonb_build_object('role', 'web_anon'))
$$;

-- The next request of the same caller: PostgREST runs the pre-request function first.
CREATE OR REPLACE FUNCTION pgapp_test.next_request() RETURNS void
LANGUAGE sql SET search_path = pg_catalog AS $$
  SELECT rds_replica.await_writes()
$$;

CREATE OR REPLACE FUNCTION pgapp_test.as_superuser() RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  PERFORM set_config('role', 'none', false);
  PERFORM set_config('request.jwt.claims', '', false);
  RETURN session_user;
END $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgapp_test TO web_anon, web_user;
