-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- plpython3u over RPC: POST /rpc/duplicate_contacts {"company_id": 1, "threshold": 0.8}
-- Likely duplicate contacts within a company, by fuzzy similarity of name and e-mail (difflib) —
-- something plain SQL on RDS cannot do. Created by the superuser (plpython3u is untrusted), then
-- owned by api_owner, so as SECURITY DEFINER its queries run with api_owner's rights only.
CREATE OR REPLACE FUNCTION api.duplicate_contacts(company_id bigint, threshold numeric DEFAULT 0.8)
RETURNS TABLE (contact_id bigint, duplicate_id bigint, similarity numeric, reason text)
LANGUAGE plpython3u STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $py$
from difflib import SequenceMatcher

if company_id is None or company_id < 1:
    plpy.error("company_id must be a positive id", hint="Pass the id of a company, e.g. {\"company_id\": 1}.", sqlstate="22023")
# Arguments are globals of the body in PL/Python: assigning to one would make it an unbound local.
limit = 0.8 if threshold is None else float(threshold)
if not 0.5 <= limit <= 1.0:
    plpy.error("threshold must be between 0.5 and 1.0", sqlstate="22023")

# Only contacts the caller may see: shared ones and their own (the api views' rule).
me = plpy.execute("SELECT rds_bridge.current_user_id() AS me")[0]["me"]
plan = plpy.prepare(
    "SELECT id, first_name, last_name, email FROM rds_crm.contacts"
    " WHERE company_id = $1 AND (owner_id IS NULL OR owner_id = $2) ORDER BY id LIMIT 2000",
    ["bigint", "text"])
rows = list(plpy.execute(plan, [company_id, me]))

def key(r):
    return (f"{r['first_name']} {r['last_name']}".lower(), r['email'].split('@')[0].lower())

out = []
for i, a in enumerate(rows):
    ka = key(a)
    for b in rows[i + 1:]:
        kb = key(b)
        name = SequenceMatcher(None, ka[0], kb[0]).ratio()
        mail = SequenceMatcher(None, ka[1], kb[1]).ratio()
        score = max(name, mail)
        if score >= limit:
            out.append((a['id'], b['id'], round(score, 3), 'name' if name >= mail else 'email'))
out.sort(key=lambda t: -t[2])
return out[:200]
$py$;
ALTER FUNCTION api.duplicate_contacts(bigint, numeric) OWNER TO api_owner;
REVOKE ALL ON FUNCTION api.duplicate_contacts(bigint, numeric) FROM PUBLIC, web_anon;
GRANT EXECUTE ON FUNCTION api.duplicate_contacts(bigint, numeric) TO web_user;
