-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- plpython3u over RPC: POST /rpc/duplicate_contacts {"company_id": 1, "threshold": 0.8}
-- Likely duplicate contacts within a company, by fuzzy similarity of name and e-mail (difflib) —
-- something plain SQL on RDS cannot do. Created by the superuser (plpython3u is untrusted), then
-- owned by api_owner, so as SECURITY DEFINER its queries run with api_owner's rights only.
--
-- Bounded and stoppable: Python loops never look at Postgres's interrupts, so a long one would
-- ignore statement_timeout, pg_cancel_backend and pg_terminate_backend and hold a PostgREST
-- connection for as long as it likes. Here the input is capped (at most 500 contacts, so at most
-- 124,750 pairs, each first passed through difflib's cheap upper bounds), and every row of the outer
-- loop runs a one-row query, which is where Postgres raises a pending cancel, timeout or
-- termination: the call stops within one row's work (a few ms) of being asked to.
CREATE OR REPLACE FUNCTION api.duplicate_contacts(company_id bigint, threshold numeric DEFAULT 0.8)
RETURNS TABLE (contact_id bigint, duplicate_id bigint, similarity numeric, reason text)
LANGUAGE plpython3u STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $py$
from difflib import SequenceMatcher

MAX_CONTACTS = 500
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
    " WHERE company_id = $1 AND (owner_id IS NULL OR owner_id = $2) ORDER BY id LIMIT $3",
    ["bigint", "text", "int"])
rows = list(plpy.execute(plan, [company_id, me, MAX_CONTACTS + 1]))
if len(rows) > MAX_CONTACTS:
    plpy.error(f"company {company_id} has more than {MAX_CONTACTS} contacts; duplicate_contacts compares at most {MAX_CONTACTS}",
               hint="Run it on a smaller company, or compare in batches with your own SQL.", sqlstate="22023")

# Where a pending cancel, statement timeout or termination is raised (CHECK_FOR_INTERRUPTS).
interrupts = plpy.prepare("SELECT 1")

keys = [(f"{r['first_name']} {r['last_name']}".lower(), r['email'].split('@')[0].lower()) for r in rows]
name_m, mail_m = SequenceMatcher(autojunk=False), SequenceMatcher(autojunk=False)

def score(m, a, b):
    # ratio() only when the cheap upper bounds say it could reach the threshold.
    m.set_seq1(b)
    if m.real_quick_ratio() < limit or m.quick_ratio() < limit:
        return 0.0
    return m.ratio()

out = []
for i, (a, ka) in enumerate(zip(rows, keys)):
    plpy.execute(interrupts)
    name_m.set_seq2(ka[0])
    mail_m.set_seq2(ka[1])
    for b, kb in zip(rows[i + 1:], keys[i + 1:]):
        name = score(name_m, ka[0], kb[0])
        mail = score(mail_m, ka[1], kb[1])
        best = max(name, mail)
        if best >= limit:
            out.append((a['id'], b['id'], round(best, 3), 'name' if name >= mail else 'email'))
out.sort(key=lambda t: -t[2])
return out[:200]
$py$;
ALTER FUNCTION api.duplicate_contacts(bigint, numeric) OWNER TO api_owner;
REVOKE ALL ON FUNCTION api.duplicate_contacts(bigint, numeric) FROM PUBLIC, web_anon;
GRANT EXECUTE ON FUNCTION api.duplicate_contacts(bigint, numeric) TO web_user;
