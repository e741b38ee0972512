-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- The database as the app, in a browser: GET /rpc/app answers text/html (PostgREST 12 picks the
-- function's media type from its return type, the domain crm."text/html", when the browser accepts
-- it). A small CRM page drawn by SQL: the deal pipeline per stage and per company from the pg_cron
-- cache as inline SVG charts, the open deals most likely to be won (022_deal_scores.sql), the latest
-- activities, and a contacts search whose form comes back to the same function (GET /rpc/app?q=…).
-- No app server.
--
-- Safe by construction: every value goes through app.h() (HTML escaping) on its way into the page,
-- the search term is a function argument (a bound parameter, never SQL text; LIKE's wildcards in it
-- are escaped), and the function runs as its caller (SECURITY INVOKER) over crm's tables: anonymous
-- visitors see exactly what web_anon may read, a signed-in user what web_user may.
CREATE SCHEMA IF NOT EXISTS app AUTHORIZATION api_owner;
REVOKE ALL ON SCHEMA app FROM PUBLIC;
-- (An earlier version served the page from schema api.)
DROP FUNCTION IF EXISTS api.app(text);
DROP DOMAIN IF EXISTS api."text/html";
GRANT USAGE ON SCHEMA app TO web_anon, web_user;
SET LOCAL ROLE api_owner;

DO $$
BEGIN
  IF to_regtype('crm."text/html"') IS NULL THEN
    CREATE DOMAIN crm."text/html" AS text;
  END IF;
END $$;

-- HTML escaping of any value (NULL: empty).
CREATE OR REPLACE FUNCTION app.h(v anyelement) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
  SELECT replace(replace(replace(replace(replace(coalesce(v::text, ''),
           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;

-- A bar chart as inline SVG: one bar per (label, value), heights scaled to the largest value
-- (160 px), each bar carrying its label and value as data attributes.
CREATE OR REPLACE FUNCTION app.bar_chart(title text, labels text[], vals numeric[]) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, app AS $$
  WITH b AS (
    SELECT i, labels[i] AS label, coalesce(vals[i], 0) AS v,
           CASE WHEN (SELECT max(x) FROM unnest(vals) x) > 0
                THEN round(coalesce(vals[i], 0) / (SELECT max(x) FROM unnest(vals) x) * 160)::int
                ELSE 0 END AS hgt
    FROM generate_subscripts(labels, 1) i
  )
  SELECT format('<figure><figcaption>%s</figcaption><svg class="chart" role="img" aria-label="%s" '
                'width="%s" height="230" viewBox="0 0 %s 230">', h(title), h(title),
                40 + 100 * coalesce(max(i), 0), 40 + 100 * coalesce(max(i), 0))
      || coalesce(string_agg(format(
           '<g><rect class="bar" data-label="%s" data-value="%s" x="%s" y="%s" width="64" height="%s"></rect>'
           '<text class="value" x="%s" y="%s">%s</text><text class="label" x="%s" y="222">%s</text></g>',
           h(label), v, 100 * i - 60, 200 - hgt, hgt,
           100 * i - 28, 194 - hgt, h(to_char(v, 'FM999G999G999G990')), 100 * i - 28, h(left(label, 14))), '' ORDER BY i), '')
      || '</svg></figure>'
  FROM b
$$;

CREATE OR REPLACE FUNCTION crm.app(q text DEFAULT NULL) RETURNS crm."text/html"
LANGUAGE sql STABLE SET search_path = pg_catalog, app AS $$
  SELECT '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    || '<meta name="viewport" content="width=device-width, initial-scale=1"><title>pgapp CRM</title><style>'
    || 'body{font:15px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}'
    || 'h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}figure{margin:0 0 1rem}figcaption{color:#555}'
    || '.bar{fill:#3b6ea5}.value,.label{font-size:12px;text-anchor:middle}.value{fill:#333}'
    || 'table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ddd}'
    || 'small{color:#666}</style></head><body>'
    || '<h1>pgapp CRM</h1><p><small>Served by Postgres through PostgREST: no app server. Pipeline from the cache pg_cron refreshes'
    || coalesce(' (as of ' || h(to_char((SELECT max(cached_at) FROM crm.stage_pipeline), 'YYYY-MM-DD HH24:MI:SS TZ')) || ')', '')
    || '.</small></p>'
    || '<h2>Pipeline per stage</h2>'
    || (SELECT bar_chart('Deal amount per stage', coalesce(array_agg(stage), '{}'), coalesce(array_agg(amount), '{}'))
          FROM crm.stage_pipeline)
    || '<h2>Pipeline per company</h2>'
    || (SELECT bar_chart('Open pipeline of the top companies', coalesce(array_agg(name ORDER BY pipeline_amount DESC, company_id), '{}'),
                         coalesce(array_agg(pipeline_amount ORDER BY pipeline_amount DESC, company_id), '{}'))
          FROM (SELECT company_id, name, pipeline_amount FROM crm.company_pipeline
                 ORDER BY pipeline_amount DESC, company_id LIMIT 8) top)
    || '<h2>Open deals most likely to be won</h2><p><small>A model scikit-learn fits on custom (022_deal_scores.sql)'
    || coalesce(' as of ' || h(to_char((SELECT max(model_trained_at) FROM crm.deal_scores), 'YYYY-MM-DD HH24:MI:SS TZ')), '')
    || '.</small></p><table id="deal-scores"><tr><th>Deal</th><th>Stage</th><th>Amount</th><th>Chance</th></tr>'
    || coalesce((SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s%%</td></tr>',
                                          h(s.title), h(s.stage), h(to_char(s.amount, 'FM999G999G990')),
                                          h(round(s.win_probability * 100))), '' ORDER BY s.win_probability DESC, s.deal_id)
                   FROM (SELECT * FROM crm.deal_scores ORDER BY win_probability DESC, deal_id LIMIT 5) s), '')
    || '</table>'
    || '<h2>Contacts</h2><form method="get" action="app" role="search"><input type="search" name="q" '
    || 'placeholder="name or e-mail" value="' || h(q) || '"> <button type="submit">Search</button></form>'
    || CASE WHEN coalesce(trim(q), '') = '' THEN ''
       ELSE coalesce((SELECT '<table id="results"><tr><th>Name</th><th>E-mail</th><th>Company</th></tr>'
                        || string_agg(format('<tr><td>%s %s</td><td>%s</td><td>%s</td></tr>',
                                             h(c.first_name), h(c.last_name), h(c.email), h(co.name)), '' ORDER BY c.last_name, c.id)
                        || '</table>'
                      FROM (SELECT * FROM crm.contacts c
                             WHERE c.first_name || ' ' || c.last_name || ' ' || c.email
                                   ILIKE '%' || replace(replace(replace(trim(q), '\', '\\'), '%', '\%'), '_', '\_') || '%'
                             ORDER BY c.last_name, c.id LIMIT 20) c
                      LEFT JOIN crm.companies co ON co.id = c.company_id
                     HAVING count(*) > 0),
                     '<p id="results">No contact matches ' || h(q) || '.</p>')
       END
    || '<h2>Latest activities</h2><table><tr><th>When</th><th>What</th><th>Subject</th><th>Contact</th></tr>'
    || coalesce((SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s %s</td></tr>',
                                          h(to_char(a.occurred_at, 'YYYY-MM-DD')), h(a.kind), h(a.subject),
                                          h(c.first_name), h(c.last_name)), '' ORDER BY a.occurred_at DESC, a.id DESC)
                   FROM (SELECT * FROM crm.activities ORDER BY occurred_at DESC, id DESC LIMIT 10) a
                   LEFT JOIN crm.contacts c ON c.id = a.contact_id), '')
    || '</table></body></html>'
$$;
COMMENT ON FUNCTION crm.app(text) IS 'The CRM as an HTML page (open /rpc/app in a browser)';
RESET ROLE;
GRANT EXECUTE ON FUNCTION app.h(anyelement), app.bar_chart(text, text[], numeric[]) TO web_anon, web_user;
GRANT EXECUTE ON FUNCTION crm.app(text) TO web_anon, web_user;
