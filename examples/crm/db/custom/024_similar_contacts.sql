-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Fuzzy search on custom, over the replicated contacts: POST /rpc/similar_contacts {"q": "ada lovlace"}
-- (or GET /rpc/similar_contacts?q=…) — the contacts whose name or e-mail is most like q, by pg_trgm's
-- trigram similarity. pg_trgm is "custom": {"extensions": [...]} in the example's pgapp.config.json
-- (the image's build creates it once to check it); it is created here.
--
-- SECURITY INVOKER over api.contacts: the caller's own visibility (shared contacts and their own;
-- anonymous callers the shared ones), read where the API reads them — the local replica when there is one.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE OR REPLACE FUNCTION api.similar_contacts(q text, max_results integer DEFAULT 10)
RETURNS TABLE (id bigint, first_name text, last_name text, email text, company_id bigint, similarity real)
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT c.id, c.first_name, c.last_name, c.email, c.company_id, s.sim
  FROM api.contacts c,
       LATERAL (SELECT greatest(similarity(lower(c.first_name || ' ' || c.last_name), lower(q)),
                                similarity(lower(split_part(c.email, '@', 1)), lower(q))) AS sim) s
  WHERE s.sim >= 0.3 AND length(trim(q)) > 0
  ORDER BY s.sim DESC, c.id
  LIMIT least(greatest(coalesce(max_results, 10), 1), 100)
$$;
COMMENT ON FUNCTION api.similar_contacts(text, integer) IS
  'Contacts whose name or e-mail is like q (pg_trgm on custom; at most 100): shared ones and your own';
ALTER FUNCTION api.similar_contacts(text, integer) OWNER TO api_owner;
REVOKE ALL ON FUNCTION api.similar_contacts(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.similar_contacts(text, integer) TO web_anon, web_user;
-- pgapp grants the API's roles no function by default: this one of pg_trgm's they call.
GRANT EXECUTE ON FUNCTION public.similarity(text, text) TO web_anon, web_user;
