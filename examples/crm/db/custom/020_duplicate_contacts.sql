-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- plpython3u over RPC: POST /rpc/duplicate_contacts {"company_id": 1, "threshold": 0.8}
-- Likely duplicate contacts within a company, by how alike their names and e-mails are: the Dice
-- coefficient of their character trigrams, every pair at once as one numpy matrix product (numpy comes
-- from "custom": {"python": [...]} in the example's pgapp.config.json — a library RDS cannot load).
-- Created by the superuser (plpython3u is untrusted), then owned by api_owner, so as SECURITY DEFINER
-- its queries run with api_owner's rights only.
--
-- Colocated: it reads crm.contacts, the API's own read path — the local replica when there is one
-- (reads: replica), postgres_fdw otherwise — with the API's visibility: shared contacts and the
-- caller's own (crm.contacts filters by the caller's token, which a SECURITY DEFINER function keeps).
--
-- Bounded: at most 500 contacts (124,750 pairs) per call. No Python loop runs over pairs (a Python loop
-- never looks at Postgres's interrupts); the only one runs once per contact, building its trigrams. At
-- the bound the work is two 500 x V matrix products (V: the distinct trigrams, a few thousand at most),
-- a fraction of a second of CPU whatever the names are.
-- (An earlier version served it from schema api.)
DROP FUNCTION IF EXISTS api.duplicate_contacts(bigint, numeric);
CREATE OR REPLACE FUNCTION crm.duplicate_contacts(company_id bigint, threshold numeric DEFAULT 0.8)
RETURNS TABLE (contact_id bigint, duplicate_id bigint, similarity numeric, reason text)
LANGUAGE plpython3u STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $py$
import numpy as np

MAX_CONTACTS = 500
if company_id is None or company_id < 1:
    plpy.error("company_id must be a positive id", hint="Pass the id of a company, e.g. {\"company_id\": 1}.", sqlstate="22023")
# Arguments are globals of the body in PL/Python: assigning to one would make it an unbound local.
limit = 0.8 if threshold is None else float(threshold)
if not 0.5 <= limit <= 1.0:
    plpy.error("threshold must be between 0.5 and 1.0", sqlstate="22023")

plan = SD.get("plan")
if plan is None:
    plan = SD["plan"] = plpy.prepare(
        "SELECT id, first_name, last_name, email FROM crm.contacts"
        " WHERE company_id = $1 ORDER BY id LIMIT $2", ["bigint", "int"])
rows = plan.execute([company_id, MAX_CONTACTS + 1])
if len(rows) > MAX_CONTACTS:
    plpy.error(f"company {company_id} has more than {MAX_CONTACTS} contacts; duplicate_contacts compares at most {MAX_CONTACTS}",
               hint="Run it on a smaller company, or compare in batches with your own SQL.", sqlstate="22023")
n = len(rows)
if n < 2:
    return []

def dice(texts):
    """Dice coefficient of every pair's trigram sets: 2|A∩B| / (|A| + |B|), as an n x n matrix."""
    index, cells = {}, []
    for i, t in enumerate(texts):
        padded = f"  {t} "
        for g in {padded[k:k + 3] for k in range(len(padded) - 2)}:
            cells.append((i, index.setdefault(g, len(index))))
    x = np.zeros((len(texts), max(len(index), 1)), dtype=np.float32)
    r, c = zip(*cells)
    x[list(r), list(c)] = 1.0
    sizes = x.sum(axis=1)
    return 2.0 * (x @ x.T) / np.maximum(sizes[:, None] + sizes[None, :], 1.0)

name = dice([f"{r['first_name']} {r['last_name']}".lower() for r in rows])
mail = dice([r['email'].split('@')[0].lower() for r in rows])
best = np.maximum(name, mail)
i, j = np.nonzero(np.triu(best >= limit - 1e-9, k=1))
# The most alike first, then by id: the same answer every time.
top = np.lexsort((j, i, -best[i, j]))[:200]
ids = [r['id'] for r in rows]
return [(ids[i[k]], ids[j[k]], round(float(best[i[k], j[k]]), 3),
         'name' if name[i[k], j[k]] >= mail[i[k], j[k]] else 'email') for k in top]
$py$;
ALTER FUNCTION crm.duplicate_contacts(bigint, numeric) OWNER TO api_owner;
REVOKE ALL ON FUNCTION crm.duplicate_contacts(bigint, numeric) FROM PUBLIC, web_anon;
GRANT EXECUTE ON FUNCTION crm.duplicate_contacts(bigint, numeric) TO web_user;
