-- The colocated cache (the answer to "foreign tables are far away"): materialized views of the
-- hottest FDW-backed aggregates, stored on custom, refreshed CONCURRENTLY by pg_cron every minute
-- (REFRESH ... CONCURRENTLY takes an EXCLUSIVE lock: readers are never blocked), served by api.
CREATE SCHEMA cache AUTHORIZATION api_owner;
REVOKE ALL ON SCHEMA cache FROM PUBLIC;
SET LOCAL ROLE api_owner;

-- The deal pipeline per company: one remote query (the join and the aggregate push down to rds).
CREATE MATERIALIZED VIEW cache.company_pipeline AS
SELECT co.id AS company_id,
       co.name,
       count(d.id) FILTER (WHERE d.stage NOT IN ('won', 'lost'))                  AS open_deals,
       coalesce(sum(d.amount) FILTER (WHERE d.stage NOT IN ('won', 'lost')), 0)   AS pipeline_amount,
       coalesce(sum(d.amount) FILTER (WHERE d.stage = 'won'), 0)                  AS won_amount,
       max(d.created_at)                                                          AS last_deal_at
FROM rds_crm.companies co
LEFT JOIN rds_crm.deals d ON d.company_id = co.id
GROUP BY co.id, co.name;
-- REFRESH ... CONCURRENTLY needs a unique index.
CREATE UNIQUE INDEX company_pipeline_pk ON cache.company_pipeline (company_id);

CREATE MATERIALIZED VIEW cache.company_contacts AS
SELECT company_id, count(*) AS contacts
FROM rds_crm.contacts
WHERE company_id IS NOT NULL
GROUP BY company_id;
CREATE UNIQUE INDEX company_contacts_pk ON cache.company_contacts (company_id);

CREATE TABLE cache.refreshes (
  view_name    text PRIMARY KEY,
  refreshed_at timestamptz NOT NULL,
  duration_ms  integer NOT NULL
);

-- What the cron job runs. As api_owner (owner of the views, whose user mapping reaches rds).
CREATE FUNCTION cache.refresh() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v text;
  t0 timestamptz;
BEGIN
  FOREACH v IN ARRAY ARRAY['company_pipeline', 'company_contacts'] LOOP
    t0 := clock_timestamp();
    EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY cache.%I', v);
    INSERT INTO cache.refreshes AS r VALUES (v, now(), (extract(epoch FROM clock_timestamp() - t0) * 1000)::int)
    ON CONFLICT (view_name) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at, duration_ms = EXCLUDED.duration_ms;
  END LOOP;
END $$;
REVOKE ALL ON FUNCTION cache.refresh() FROM PUBLIC;

-- The API: the cached pipeline with contact counts and the time of the data.
CREATE VIEW api.company_pipeline AS
SELECT p.company_id, p.name, p.open_deals, p.pipeline_amount, p.won_amount, p.last_deal_at,
       coalesce(c.contacts, 0) AS contacts,
       (SELECT min(refreshed_at) FROM cache.refreshes) AS cached_at
FROM cache.company_pipeline p
LEFT JOIN cache.company_contacts c USING (company_id);
COMMENT ON VIEW api.company_pipeline IS 'Deal pipeline per company, cached on custom (refreshed every minute by pg_cron)';
RESET ROLE;

GRANT USAGE ON SCHEMA cache TO api_owner;
GRANT SELECT ON api.company_pipeline TO web_anon, web_user;

-- Created WITH DATA just now.
INSERT INTO cache.refreshes VALUES ('company_pipeline', now(), 0), ('company_contacts', now(), 0);
-- Every minute (pg_cron 1.4's finest): cron.schedule replaces a job of the same name.
SELECT cron.schedule('pgapp-cache-refresh', '* * * * *', 'SELECT cache.refresh()');
