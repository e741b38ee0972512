-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- The colocated cache (the answer to "foreign tables are far away"): materialized views of the
-- hottest FDW-backed aggregates, stored on custom, refreshed CONCURRENTLY by pg_cron every minute
-- (REFRESH ... CONCURRENTLY takes an EXCLUSIVE lock: readers are never blocked), served by api.
--
-- The cache obeys the visibility of the tables it summarises (bridge/040_owner.sql): every part is
-- kept per scope — '' for shared rows (no owner), else the owner's user id — and api.company_pipeline
-- adds up only the caller's scopes: shared companies and their own, shared deals and contacts and
-- their own. Nobody's private row reaches anyone else, anonymous callers included.
CREATE SCHEMA IF NOT EXISTS cache AUTHORIZATION api_owner;
REVOKE ALL ON SCHEMA cache FROM PUBLIC;
DROP VIEW IF EXISTS api.company_pipeline;
DROP MATERIALIZED VIEW IF EXISTS cache.company_pipeline, cache.company_contacts, cache.companies,
  cache.pipeline_parts, cache.contact_parts;
SET LOCAL ROLE api_owner;

-- Each is one remote query: the aggregate pushes down to rds.
CREATE MATERIALIZED VIEW cache.companies AS
SELECT id AS company_id, name, coalesce(owner_id, '') AS scope
FROM rds_crm.companies;
-- REFRESH ... CONCURRENTLY needs a unique index.
CREATE UNIQUE INDEX companies_pk ON cache.companies (company_id);
CREATE INDEX companies_scope_idx ON cache.companies (scope) WHERE scope <> '';

CREATE MATERIALIZED VIEW cache.pipeline_parts AS
SELECT company_id,
       coalesce(owner_id, '')                                                  AS scope,
       count(*) FILTER (WHERE stage NOT IN ('won', 'lost'))                    AS open_deals,
       coalesce(sum(amount) FILTER (WHERE stage NOT IN ('won', 'lost')), 0)    AS pipeline_amount,
       coalesce(sum(amount) FILTER (WHERE stage = 'won'), 0)                   AS won_amount,
       max(created_at)                                                         AS last_deal_at
FROM rds_crm.deals
GROUP BY company_id, coalesce(owner_id, '');
CREATE UNIQUE INDEX pipeline_parts_pk ON cache.pipeline_parts (company_id, scope);

CREATE MATERIALIZED VIEW cache.contact_parts AS
SELECT company_id, coalesce(owner_id, '') AS scope, count(*) AS contacts
FROM rds_crm.contacts
WHERE company_id IS NOT NULL
GROUP BY company_id, coalesce(owner_id, '');
CREATE UNIQUE INDEX contact_parts_pk ON cache.contact_parts (company_id, scope);

CREATE TABLE IF NOT EXISTS cache.refreshes (
  view_name    text PRIMARY KEY,
  refreshed_at timestamptz NOT NULL,
  duration_ms  integer NOT NULL
);
DELETE FROM cache.refreshes;

-- What the cron job runs. As api_owner (owner of the views, whose user mapping reaches rds).
CREATE OR REPLACE FUNCTION cache.refresh() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v text;
  t0 timestamptz;
BEGIN
  FOREACH v IN ARRAY ARRAY['companies', 'pipeline_parts', 'contact_parts'] LOOP
    t0 := clock_timestamp();
    EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY cache.%I', v);
    INSERT INTO cache.refreshes AS r VALUES (v, now(), (extract(epoch FROM clock_timestamp() - t0) * 1000)::int)
    ON CONFLICT (view_name) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at, duration_ms = EXCLUDED.duration_ms;
  END LOOP;
END $$;
REVOKE ALL ON FUNCTION cache.refresh() FROM PUBLIC;

-- The API: the cached pipeline of each company the caller may see, from the deals and contacts the
-- caller may see, with the time of the data. `(SELECT current_user_id())` is evaluated once.
CREATE VIEW api.company_pipeline AS
SELECT c.company_id,
       c.name,
       coalesce(sd.open_deals, 0) + coalesce(md.open_deals, 0)                AS open_deals,
       coalesce(sd.pipeline_amount, 0) + coalesce(md.pipeline_amount, 0)      AS pipeline_amount,
       coalesce(sd.won_amount, 0) + coalesce(md.won_amount, 0)                AS won_amount,
       greatest(sd.last_deal_at, md.last_deal_at)                             AS last_deal_at,
       coalesce(sc.contacts, 0) + coalesce(mc.contacts, 0)                    AS contacts,
       (SELECT min(refreshed_at) FROM cache.refreshes)                        AS cached_at
FROM cache.companies c
LEFT JOIN cache.pipeline_parts sd ON sd.company_id = c.company_id AND sd.scope = ''
LEFT JOIN cache.pipeline_parts md ON md.company_id = c.company_id AND md.scope = (SELECT rds_bridge.current_user_id())
LEFT JOIN cache.contact_parts sc ON sc.company_id = c.company_id AND sc.scope = ''
LEFT JOIN cache.contact_parts mc ON mc.company_id = c.company_id AND mc.scope = (SELECT rds_bridge.current_user_id())
WHERE c.scope = '' OR c.scope = (SELECT rds_bridge.current_user_id());
COMMENT ON VIEW api.company_pipeline IS
  'Deal pipeline per company, cached on custom (refreshed every minute by pg_cron): shared rows and your own';
RESET ROLE;
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON api.company_pipeline
  FOR EACH ROW EXECUTE FUNCTION pgapp_private.read_only_view();

GRANT USAGE ON SCHEMA cache TO api_owner;
GRANT SELECT ON api.company_pipeline TO web_anon, web_user;

-- Created WITH DATA just now.
INSERT INTO cache.refreshes VALUES ('companies', now(), 0), ('pipeline_parts', now(), 0), ('contact_parts', now(), 0);
-- Every minute (pg_cron 1.4's finest): cron.schedule replaces a job of the same name.
SELECT cron.schedule('pgapp-cache-refresh', '* * * * *', 'SELECT cache.refresh()');
