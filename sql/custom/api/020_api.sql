-- pgapp:repeatable (idempotent; re-applied when this file or the settings it reads change)
-- The `api` schema PostgREST publishes: views over the foreign tables (reads: fdw; auto-updatable,
-- so writes flow through to rds) or over the local replica (reads: replica; writes through to rds by
-- INSTEAD OF triggers, 040_replica.sql). Owned by api_owner, whose user mapping the bridge uses.
CREATE SCHEMA IF NOT EXISTS api AUTHORIZATION api_owner;
SET LOCAL ROLE api_owner;

-- Per-user access (see custom/bridge/040_owner.sql): shared rows (no owner) and the caller's own.
-- `(SELECT current_user_id())` is a parameter postgres_fdw can push down to rds with the filter.
-- The rows come from the local replica (schema crm, kept in sync by logical replication,
-- src/stack/replica.ts) with reads: replica, else from the foreign tables; writes go to rds either
-- way (040_replica.sql).
DO $$
DECLARE
  src text := CASE current_setting('pgapp.reads') WHEN 'replica' THEN 'crm' ELSE 'rds_crm' END;
  v record;
BEGIN
  FOR v IN SELECT * FROM (VALUES
      ('companies', 'id, name, domain, industry, employees, created_at, owner_id'),
      ('contacts', 'id, company_id, first_name, last_name, email, phone, title, created_at, owner_id'),
      ('deals', 'id, company_id, contact_id, title, stage, amount, close_date, created_at, owner_id'),
      ('activities', 'id, contact_id, deal_id, kind, subject, occurred_at, created_at, owner_id')) t(name, cols)
  LOOP
    EXECUTE format('CREATE OR REPLACE VIEW api.%1$I AS SELECT %2$s FROM %3$I.%1$I
                    WHERE owner_id IS NULL OR owner_id = (SELECT rds_bridge.current_user_id())', v.name, v.cols, src);
  END LOOP;
END $$;

COMMENT ON SCHEMA api IS 'pgapp: a tiny CRM, kept in rds, served through postgres_fdw or its local replica';
COMMENT ON VIEW api.companies IS 'Companies (crm.companies on rds)';
COMMENT ON VIEW api.contacts IS 'Contacts (crm.contacts on rds)';
COMMENT ON VIEW api.deals IS 'Deals (crm.deals on rds)';
COMMENT ON VIEW api.activities IS 'Activities (crm.activities on rds)';

-- Computed relationships: foreign tables have no keys, so PostgREST learns the links from these
-- (GET /contacts?select=*,company(*) and GET /companies?select=*,contacts(*)).
CREATE OR REPLACE FUNCTION api.company(api.contacts) RETURNS SETOF api.companies ROWS 1
LANGUAGE sql STABLE AS $$ SELECT * FROM api.companies WHERE id = $1.company_id $$;
CREATE OR REPLACE FUNCTION api.company(api.deals) RETURNS SETOF api.companies ROWS 1
LANGUAGE sql STABLE AS $$ SELECT * FROM api.companies WHERE id = $1.company_id $$;
CREATE OR REPLACE FUNCTION api.contact(api.deals) RETURNS SETOF api.contacts ROWS 1
LANGUAGE sql STABLE AS $$ SELECT * FROM api.contacts WHERE id = $1.contact_id $$;
CREATE OR REPLACE FUNCTION api.contact(api.activities) RETURNS SETOF api.contacts ROWS 1
LANGUAGE sql STABLE AS $$ SELECT * FROM api.contacts WHERE id = $1.contact_id $$;
CREATE OR REPLACE FUNCTION api.deal(api.activities) RETURNS SETOF api.deals ROWS 1
LANGUAGE sql STABLE AS $$ SELECT * FROM api.deals WHERE id = $1.deal_id $$;
CREATE OR REPLACE FUNCTION api.contacts(api.companies) RETURNS SETOF api.contacts
LANGUAGE sql STABLE AS $$ SELECT * FROM api.contacts WHERE company_id = $1.id $$;
CREATE OR REPLACE FUNCTION api.deals(api.companies) RETURNS SETOF api.deals
LANGUAGE sql STABLE AS $$ SELECT * FROM api.deals WHERE company_id = $1.id $$;
CREATE OR REPLACE FUNCTION api.deals(api.contacts) RETURNS SETOF api.deals
LANGUAGE sql STABLE AS $$ SELECT * FROM api.deals WHERE contact_id = $1.id $$;
CREATE OR REPLACE FUNCTION api.activities(api.contacts) RETURNS SETOF api.activities
LANGUAGE sql STABLE AS $$ SELECT * FROM api.activities WHERE contact_id = $1.id $$;
CREATE OR REPLACE FUNCTION api.activities(api.deals) RETURNS SETOF api.activities
LANGUAGE sql STABLE AS $$ SELECT * FROM api.activities WHERE deal_id = $1.id $$;

RESET ROLE;

-- Least privilege: anonymous reads; web_user reads and writes; new rows get their id from rds.
GRANT USAGE ON SCHEMA api TO web_anon, web_user;
-- By name, never ALL TABLES: other api views (jobs, the cache) grant their own, and this file
-- re-runs when it changes. (A table-level REVOKE takes the column grants with it.)
REVOKE ALL ON api.companies, api.contacts, api.deals, api.activities FROM web_anon, web_user;
GRANT SELECT ON api.companies, api.contacts, api.deals, api.activities TO web_anon;
GRANT SELECT, DELETE ON api.companies, api.contacts, api.deals, api.activities TO web_user;
-- Writes name their columns: `id` comes from rds's sequences only (a client choosing ids would take
-- the next values and make other users' inserts fail), `owner_id` from the token, `created_at` from
-- the server. A POST or PATCH that sends one of them is refused (403), not silently altered.
GRANT INSERT (name, domain, industry, employees), UPDATE (name, domain, industry, employees)
  ON api.companies TO web_user;
GRANT INSERT (company_id, first_name, last_name, email, phone, title),
      UPDATE (company_id, first_name, last_name, email, phone, title) ON api.contacts TO web_user;
GRANT INSERT (company_id, contact_id, title, stage, amount, close_date),
      UPDATE (company_id, contact_id, title, stage, amount, close_date) ON api.deals TO web_user;
GRANT INSERT (contact_id, deal_id, kind, subject, occurred_at),
      UPDATE (contact_id, deal_id, kind, subject, occurred_at) ON api.activities TO web_user;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
-- Only the computed relationships, by name: other api functions (RPC) grant their own EXECUTE.
GRANT EXECUTE ON FUNCTION
  api.company(api.contacts), api.company(api.deals), api.contact(api.deals), api.contact(api.activities),
  api.deal(api.activities), api.contacts(api.companies), api.deals(api.companies), api.deals(api.contacts),
  api.activities(api.contacts), api.activities(api.deals)
TO web_anon, web_user;
GRANT USAGE ON SCHEMA rds_bridge TO web_anon, web_user;
GRANT EXECUTE ON FUNCTION rds_bridge.next_id(text) TO web_user;
GRANT EXECUTE ON FUNCTION rds_bridge.current_user_id() TO web_anon, web_user;
GRANT EXECUTE ON FUNCTION rds_bridge.row_visible(text, bigint) TO web_user;
