-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Fuzzy search on custom, over the replicated contacts: GET /rpc/similar_contacts?q=ada%20lovlace (or
-- POST {"q": …}) — the contacts whose name or e-mail is most like q, by pg_trgm's trigram similarity.
-- pg_trgm is "custom": {"extensions": [...]} in the example's pgapp.config.json (the image's build
-- creates it once to check it); it is created here.
--
-- Read where the API reads them: with reads: replica that is crm.contacts on custom, which gets two
-- trigram indexes here, so a search looks up the contacts that share enough trigrams with q (pg_trgm's
-- `%`, similarity >= 0.3) instead of scoring every one. The indexes are this file's: a replica table
-- pgapp makes again (its columns changed on rds) comes back without them until this file runs again
-- (change it, or `pgapp reset`), and the search is slower, not wrong.
--
-- Who sees what: shared contacts and the caller's own (anonymous callers: the shared ones), the rule
-- of crm.contacts' row-level security (pgapp_read), stated in the query itself. Under row-level
-- security Postgres may not use an index for an operator that is not LEAKPROOF (pg_trgm's `%` is
-- not): the policy's filter must run first, so every contact would be scored (0.9 s over 100,000,
-- against 40 ms). So the function runs as crm_search, a role that reads these columns of contacts
-- and nothing else and is not bound by row-level security (BYPASSRLS), and filters by the caller's
-- token itself (rds_bridge.current_user_id(): only a web_user token's sub). app.test.ts checks two
-- users and anonymous callers see what the table's own rule lets them.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

DO $$
BEGIN
  IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('crm.contacts')) = 'r' THEN
    CREATE INDEX IF NOT EXISTS contacts_name_trgm
      ON crm.contacts USING gin (lower(first_name || ' ' || last_name) public.gin_trgm_ops);
    CREATE INDEX IF NOT EXISTS contacts_email_trgm
      ON crm.contacts USING gin (lower(split_part(email, '@', 1)) public.gin_trgm_ops);
  END IF;
END $$;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_search') THEN
    CREATE ROLE crm_search NOLOGIN BYPASSRLS;
  END IF;
END $$;
GRANT USAGE ON SCHEMA crm TO crm_search;
GRANT SELECT (id, first_name, last_name, email, company_id, owner_id) ON crm.contacts TO crm_search;
GRANT USAGE ON SCHEMA rds_bridge TO crm_search;
GRANT EXECUTE ON FUNCTION rds_bridge.current_user_id() TO crm_search;
GRANT EXECUTE ON FUNCTION public.similarity(text, text), public.similarity_op(text, text) TO crm_search;

-- (An earlier version served it from schema api.)
DROP FUNCTION IF EXISTS api.similar_contacts(text, integer);
CREATE OR REPLACE FUNCTION crm.similar_contacts(q text, max_results integer DEFAULT 10)
RETURNS TABLE (id bigint, first_name text, last_name text, email text, company_id bigint, similarity real)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.id, c.first_name, c.last_name, c.email, c.company_id,
         greatest(similarity(lower(c.first_name || ' ' || c.last_name), lower(q)),
                  similarity(lower(split_part(c.email, '@', 1)), lower(q))) AS sim
  FROM crm.contacts c
  WHERE (lower(c.first_name || ' ' || c.last_name) % lower(q) OR lower(split_part(c.email, '@', 1)) % lower(q))
    AND (c.owner_id IS NULL OR c.owner_id = (SELECT rds_bridge.current_user_id()))
    AND length(trim(q)) > 0
  ORDER BY sim DESC, c.id
  LIMIT least(greatest(coalesce(max_results, 10), 1), 100)
$$;
COMMENT ON FUNCTION crm.similar_contacts(text, integer) IS
  'Contacts whose name or e-mail is like q (pg_trgm on custom; at most 100): shared ones and your own';
ALTER FUNCTION crm.similar_contacts(text, integer) OWNER TO crm_search;
REVOKE ALL ON FUNCTION crm.similar_contacts(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.similar_contacts(text, integer) TO web_anon, web_user;
-- pgapp grants the API's roles no function by default: these of pg_trgm's they call (`%` is similarity_op).
GRANT EXECUTE ON FUNCTION public.similarity(text, text), public.similarity_op(text, text) TO web_anon, web_user;
