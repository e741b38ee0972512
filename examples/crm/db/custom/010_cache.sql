-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- The colocated cache (the answer to "foreign tables are far away"): materialized views of the
-- hottest FDW-backed aggregates, stored on custom, refreshed CONCURRENTLY by pg_cron every minute
-- (REFRESH ... CONCURRENTLY takes an EXCLUSIVE lock: readers are never blocked), served by the API.
--
-- The cache obeys the visibility of the tables it summarises (bridge/040_owner.sql): shared rows
-- (no owner) and each owner's private rows are cached apart, and crm.company_pipeline adds up only
-- the caller's: shared companies and their own, shared deals and contacts plus their own. Nobody's
-- private row reaches anyone else, anonymous callers included. A read is two index lookups.
CREATE SCHEMA IF NOT EXISTS cache AUTHORIZATION api_owner;
REVOKE ALL ON SCHEMA cache FROM PUBLIC;
-- (An earlier version served them from schema api.)
DROP VIEW IF EXISTS crm.company_pipeline, crm.stage_pipeline, api.company_pipeline, api.stage_pipeline;
DROP MATERIALIZED VIEW IF EXISTS cache.company_pipeline, cache.company_contacts, cache.companies,
  cache.pipeline_parts, cache.contact_parts, cache.company_totals, cache.private_parts, cache.stage_totals;
SET LOCAL ROLE api_owner;

-- Per company: who may see it (scope '' = everyone, else its owner), and the totals of its shared
-- deals and contacts. Each aggregate is pushed down to rds.
CREATE MATERIALIZED VIEW cache.company_totals AS
SELECT co.id AS company_id,
       co.name,
       coalesce(co.owner_id, '')            AS scope,
       coalesce(d.open_deals, 0)            AS open_deals,
       coalesce(d.pipeline_amount, 0)       AS pipeline_amount,
       coalesce(d.won_amount, 0)            AS won_amount,
       d.last_deal_at,
       coalesce(c.contacts, 0)              AS contacts
FROM rds_crm.companies co
LEFT JOIN (
  SELECT company_id,
         count(*) FILTER (WHERE stage NOT IN ('won', 'lost'))                  AS open_deals,
         coalesce(sum(amount) FILTER (WHERE stage NOT IN ('won', 'lost')), 0)  AS pipeline_amount,
         coalesce(sum(amount) FILTER (WHERE stage = 'won'), 0)                 AS won_amount,
         max(created_at)                                                       AS last_deal_at
  FROM rds_crm.deals WHERE owner_id IS NULL GROUP BY company_id
) d ON d.company_id = co.id
LEFT JOIN (
  SELECT company_id, count(*) AS contacts
  FROM rds_crm.contacts WHERE owner_id IS NULL AND company_id IS NOT NULL GROUP BY company_id
) c ON c.company_id = co.id;
-- REFRESH ... CONCURRENTLY needs a unique index.
CREATE UNIQUE INDEX company_totals_pk ON cache.company_totals (company_id);

-- Per company and owner: the totals of that owner's private deals and contacts.
CREATE MATERIALIZED VIEW cache.private_parts AS
SELECT company_id,
       scope,
       sum(open_deals)        AS open_deals,
       sum(pipeline_amount)   AS pipeline_amount,
       sum(won_amount)        AS won_amount,
       max(last_deal_at)      AS last_deal_at,
       sum(contacts)          AS contacts
FROM (
  SELECT company_id, owner_id AS scope,
         count(*) FILTER (WHERE stage NOT IN ('won', 'lost'))                  AS open_deals,
         coalesce(sum(amount) FILTER (WHERE stage NOT IN ('won', 'lost')), 0)  AS pipeline_amount,
         coalesce(sum(amount) FILTER (WHERE stage = 'won'), 0)                 AS won_amount,
         max(created_at)                                                       AS last_deal_at,
         0                                                                     AS contacts
  FROM rds_crm.deals WHERE owner_id IS NOT NULL GROUP BY company_id, owner_id
  UNION ALL
  SELECT company_id, owner_id, 0, 0, 0, NULL, count(*)
  FROM rds_crm.contacts WHERE owner_id IS NOT NULL AND company_id IS NOT NULL GROUP BY company_id, owner_id
) parts
GROUP BY company_id, scope;
CREATE UNIQUE INDEX private_parts_pk ON cache.private_parts (company_id, scope);

-- Per deal stage and scope ('' = shared, else the owner): how many deals, and their amount.
CREATE MATERIALIZED VIEW cache.stage_totals AS
SELECT stage, coalesce(owner_id, '') AS scope, count(*) AS deals, coalesce(sum(amount), 0) AS amount
FROM rds_crm.deals GROUP BY stage, coalesce(owner_id, '');
CREATE UNIQUE INDEX stage_totals_pk ON cache.stage_totals (stage, scope);

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
  FOREACH v IN ARRAY ARRAY['company_totals', 'private_parts', 'stage_totals'] LOOP
    t0 := clock_timestamp();
    EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY cache.%I', v);
    INSERT INTO cache.refreshes AS r VALUES (v, now(), (extract(epoch FROM clock_timestamp() - t0) * 1000)::int)
    ON CONFLICT (view_name) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at, duration_ms = EXCLUDED.duration_ms;
  END LOOP;
END $$;
REVOKE ALL ON FUNCTION cache.refresh() FROM PUBLIC;

-- The API: the cached pipeline of each company the caller may see, from the deals and contacts the
-- caller may see, with the time of the data. `(SELECT current_user_id())` is evaluated once.
CREATE VIEW crm.company_pipeline AS
SELECT t.company_id,
       t.name,
       t.open_deals + coalesce(p.open_deals, 0)             AS open_deals,
       t.pipeline_amount + coalesce(p.pipeline_amount, 0)   AS pipeline_amount,
       t.won_amount + coalesce(p.won_amount, 0)             AS won_amount,
       greatest(t.last_deal_at, p.last_deal_at)             AS last_deal_at,
       t.contacts + coalesce(p.contacts, 0)                 AS contacts,
       (SELECT min(refreshed_at) FROM cache.refreshes)      AS cached_at
FROM cache.company_totals t
LEFT JOIN cache.private_parts p ON p.company_id = t.company_id AND p.scope = (SELECT rds_bridge.current_user_id())
WHERE t.scope = '' OR t.scope = (SELECT rds_bridge.current_user_id());
COMMENT ON VIEW crm.company_pipeline IS
  'Deal pipeline per company, cached on custom (refreshed every minute by pg_cron): shared rows and your own';
-- The pipeline per stage, in the order deals move through it, the same way.
CREATE VIEW crm.stage_pipeline AS
SELECT stage, sum(deals)::bigint AS deals, sum(amount) AS amount,
       (SELECT min(refreshed_at) FROM cache.refreshes) AS cached_at
FROM cache.stage_totals
WHERE scope = '' OR scope = (SELECT rds_bridge.current_user_id())
GROUP BY stage
ORDER BY array_position(ARRAY['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost'], stage), stage;
COMMENT ON VIEW crm.stage_pipeline IS
  'Deals and amount per stage, cached on custom (refreshed every minute by pg_cron): shared deals and your own';
RESET ROLE;
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON crm.company_pipeline
  FOR EACH ROW EXECUTE FUNCTION pgapp_private.read_only_view();
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON crm.stage_pipeline
  FOR EACH ROW EXECUTE FUNCTION pgapp_private.read_only_view();

GRANT USAGE ON SCHEMA cache TO api_owner;
GRANT SELECT ON crm.company_pipeline, crm.stage_pipeline TO web_anon, web_user;

-- Created WITH DATA just now.
INSERT INTO cache.refreshes VALUES ('company_totals', now(), 0), ('private_parts', now(), 0), ('stage_totals', now(), 0);
-- Every minute (pg_cron 1.4's finest): cron.schedule replaces a job of the same name.
SELECT cron.schedule('pgapp-cache-refresh', '* * * * *', 'SELECT cache.refresh()');
