-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Compute next to the data, with libraries RDS cannot load: the chance each open deal is won.
--
--   ml.train_deal_model()  plpython3u with numpy and scikit-learn ("custom": {"python": [...]} in the
--                          example's pgapp.config.json): a logistic regression fit on the shared closed
--                          deals — from their amount, age, the company's size and its history (deals
--                          it won and lost) — read from the local replica. pg_cron runs it every five
--                          minutes into ml.deal_model (its coefficients) and ml.company_history.
--   GET /deal_scores       each open deal the caller may see with its win probability, worked out
--                          from the model as it is read: a deal written a moment ago has one at once.
--
-- Visibility: the model learns from shared rows only (owner_id IS NULL), so nobody's private deal
-- shapes what anyone else sees; /deal_scores reads crm.deals and crm.companies as its caller, so
-- each user gets the shared deals and their own, and anonymous callers the shared ones.
CREATE SCHEMA IF NOT EXISTS ml AUTHORIZATION api_owner;
REVOKE ALL ON SCHEMA ml FROM PUBLIC;
GRANT USAGE ON SCHEMA ml TO web_anon, web_user;
DROP VIEW IF EXISTS crm.deal_scores, api.deal_scores;

-- The features, in the order of the model's arrays.
CREATE TABLE IF NOT EXISTS ml.deal_model (
  one        boolean PRIMARY KEY DEFAULT true CHECK (one),
  trained_at timestamptz NOT NULL,
  source     text NOT NULL,        -- the schema it read: crm (the API's tables), rds_crm (the foreign tables)
  deals      integer NOT NULL,     -- closed shared deals it learned from
  won        integer NOT NULL,
  seconds    double precision NOT NULL,
  features   text[] NOT NULL,
  intercept  double precision NOT NULL,
  weights    double precision[] NOT NULL,
  means      double precision[] NOT NULL,
  scales     double precision[] NOT NULL
);
CREATE TABLE IF NOT EXISTS ml.company_history (
  company_id bigint PRIMARY KEY,
  won        integer NOT NULL,
  closed     integer NOT NULL
);
ALTER TABLE ml.deal_model OWNER TO api_owner;
ALTER TABLE ml.company_history OWNER TO api_owner;
REVOKE ALL ON ml.deal_model, ml.company_history FROM PUBLIC;
GRANT SELECT ON ml.deal_model, ml.company_history TO web_anon, web_user;

-- source: the schema holding deals and companies — 'crm' (the API's tables: the local replica, or
-- with reads: fdw rds's rows through them), or 'rds_crm' (the foreign tables: every row crosses the
-- bridge; `npm run bench` compares the two).
CREATE OR REPLACE FUNCTION ml.train_deal_model(source text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpython3u VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $py$
import json, math, time
import numpy as np
from sklearn.linear_model import LogisticRegression

t0 = time.perf_counter()
src = source or "crm"
s = plpy.quote_ident(src)
rows = plpy.execute(f"""
  SELECT d.company_id, d.amount::float8 AS amount, (d.stage = 'won') AS won, c.employees::float8 AS employees,
         extract(epoch FROM coalesce(d.close_date::timestamptz, now()) - d.created_at) / 86400 AS age_days
  FROM {s}.deals d JOIN {s}.companies c ON c.id = d.company_id
  WHERE d.owner_id IS NULL AND c.owner_id IS NULL AND d.stage IN ('won', 'lost')""")
n = len(rows)
company = np.array([r["company_id"] for r in rows], dtype=np.int64)
y = np.array([r["won"] for r in rows], dtype=np.int8)
# Each company's record, from shared closed deals.
ids, inverse = np.unique(company, return_inverse=True)
won_by = np.bincount(inverse, weights=y, minlength=len(ids))
closed_by = np.bincount(inverse, minlength=len(ids)).astype(float)
features = ["log_amount", "age_days", "company_win_rate", "log_employees", "log_company_deals"]
if n:
    # The company's record without the deal itself (leave one out: a deal does not predict itself).
    w, c = won_by[inverse] - y, closed_by[inverse] - 1
    x = np.column_stack([
        np.log1p([r["amount"] for r in rows]),
        np.array([float(r["age_days"]) for r in rows]),
        (w + 1) / (c + 2),
        np.log1p([r["employees"] for r in rows]),
        np.log1p(c),
    ])
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
else:
    x, means, scales = np.zeros((0, len(features))), np.zeros(len(features)), np.ones(len(features))
if n >= 10 and 0 < y.sum() < n:
    model = LogisticRegression(C=1.0, max_iter=200).fit((x - means) / scales, y)
    intercept, weights = float(model.intercept_[0]), [float(v) for v in model.coef_[0]]
else:
    # Too little to learn from: every deal gets the overall rate.
    rate = (y.sum() + 1) / (n + 2)
    intercept, weights = math.log(rate / (1 - rate)), [0.0] * len(features)

plpy.execute("DELETE FROM ml.company_history")
if len(ids):
    plan = plpy.prepare("INSERT INTO ml.company_history SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[])",
                        ["bigint[]", "int[]", "int[]"])
    plan.execute([ids.tolist(), won_by.astype(int).tolist(), closed_by.astype(int).tolist()])
seconds = time.perf_counter() - t0
plan = plpy.prepare("""
  INSERT INTO ml.deal_model AS m VALUES (true, now(), $1, $2, $3, $4, $5, $6, $7, $8, $9)
  ON CONFLICT (one) DO UPDATE SET trained_at = EXCLUDED.trained_at, source = EXCLUDED.source,
    deals = EXCLUDED.deals, won = EXCLUDED.won, seconds = EXCLUDED.seconds, features = EXCLUDED.features,
    intercept = EXCLUDED.intercept, weights = EXCLUDED.weights, means = EXCLUDED.means, scales = EXCLUDED.scales""",
    ["text", "int", "int", "float8", "text[]", "float8", "float8[]", "float8[]", "float8[]"])
plan.execute([src, n, int(y.sum()), seconds, features, intercept, weights, means.tolist(), scales.tolist()])
# Statistics for the planner: unanalysed, the one-row model looks like hundreds, a read of /deal_scores
# like millions of rows, and JIT compiles for longer than the query runs.
plpy.execute("ANALYZE ml.deal_model, ml.company_history")
return json.dumps({"source": src, "deals": n, "won": int(y.sum()), "seconds": round(seconds, 3)})
$py$;
ALTER FUNCTION ml.train_deal_model(text) OWNER TO api_owner;
REVOKE ALL ON FUNCTION ml.train_deal_model(text) FROM PUBLIC;

-- Each open deal the caller may see, scored with the model (SECURITY INVOKER over crm's tables, whose
-- row-level security keeps to the caller's token: the caller's own visibility). A function between the view and crm.deals, so pgapp can make crm.deals
-- again without asking; every name in it qualified and no SET clause, so the planner inlines it
-- (a request's filter, order and limit reach the tables).
CREATE OR REPLACE FUNCTION ml.deal_scores()
RETURNS TABLE (deal_id bigint, title text, company_id bigint, stage text, amount numeric,
               win_probability numeric, model_trained_at timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT d.id, d.title, d.company_id, d.stage, d.amount,
         round((1 / (1 + exp(-(m.intercept
           + m.weights[1] * (ln(1 + d.amount::float8) - m.means[1]) / m.scales[1]
           + m.weights[2] * (extract(epoch FROM coalesce(d.close_date::timestamptz, now()) - d.created_at) / 86400 - m.means[2]) / m.scales[2]
           + m.weights[3] * ((coalesce(h.won, 0) + 1.0) / (coalesce(h.closed, 0) + 2) - m.means[3]) / m.scales[3]
           + m.weights[4] * (coalesce(ln(1 + c.employees::float8), m.means[4]) - m.means[4]) / m.scales[4]
           + m.weights[5] * (ln(1 + coalesce(h.closed, 0)) - m.means[5]) / m.scales[5]))))::numeric, 3),
         m.trained_at
  FROM crm.deals d
  CROSS JOIN ml.deal_model m
  LEFT JOIN crm.companies c ON c.id = d.company_id
  LEFT JOIN ml.company_history h ON h.company_id = d.company_id
  WHERE d.stage NOT IN ('won', 'lost')
$$;
ALTER FUNCTION ml.deal_scores() OWNER TO api_owner;
REVOKE ALL ON FUNCTION ml.deal_scores() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ml.deal_scores() TO web_anon, web_user;

SET LOCAL ROLE api_owner;
CREATE VIEW crm.deal_scores AS SELECT * FROM ml.deal_scores();
COMMENT ON VIEW crm.deal_scores IS
  'Open deals you may see, with the chance each is won (a model scikit-learn fits on shared deals on custom, every 5 minutes)';
RESET ROLE;
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON crm.deal_scores
  FOR EACH ROW EXECUTE FUNCTION pgapp_private.read_only_view();
REVOKE ALL ON crm.deal_scores FROM PUBLIC;
GRANT SELECT ON crm.deal_scores TO web_anon, web_user;

-- A model now (from what the replica holds; pg_cron keeps it current), and every five minutes.
SELECT ml.train_deal_model();
SELECT cron.schedule('pgapp-deal-model', '*/5 * * * *', 'SELECT ml.train_deal_model()');
