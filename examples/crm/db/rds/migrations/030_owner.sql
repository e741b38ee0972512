-- Per-user ownership: who wrote a row through the API (the JWT's `sub`). NULL = shared data
-- (seeded or imported), readable by everyone, changeable by no API user. Enforced on custom.
ALTER TABLE crm.companies  ADD COLUMN owner_id text;
ALTER TABLE crm.contacts   ADD COLUMN owner_id text;
ALTER TABLE crm.deals      ADD COLUMN owner_id text;
ALTER TABLE crm.activities ADD COLUMN owner_id text;
CREATE INDEX companies_owner_id_idx  ON crm.companies (owner_id) WHERE owner_id IS NOT NULL;
CREATE INDEX contacts_owner_id_idx   ON crm.contacts (owner_id) WHERE owner_id IS NOT NULL;
CREATE INDEX deals_owner_id_idx      ON crm.deals (owner_id) WHERE owner_id IS NOT NULL;
CREATE INDEX activities_owner_id_idx ON crm.activities (owner_id) WHERE owner_id IS NOT NULL;
