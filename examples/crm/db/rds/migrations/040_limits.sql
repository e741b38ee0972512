-- Sane limits in the schema, so no client stores a 10 MB name (a CHECK violation is a 400 through
-- the API), and uniqueness per owner: a user's private company or contact must not make another
-- user's insert fail — that failure would tell them it exists. Shared rows (owner_id NULL) stay
-- unique among themselves (NULLS NOT DISTINCT).
ALTER TABLE crm.companies
  ADD CONSTRAINT companies_name_length CHECK (char_length(name) <= 200),
  ADD CONSTRAINT companies_domain_length CHECK (char_length(domain) <= 253),
  ADD CONSTRAINT companies_industry_length CHECK (char_length(industry) <= 64),
  ADD CONSTRAINT companies_owner_id_length CHECK (char_length(owner_id) <= 128),
  DROP CONSTRAINT companies_domain_key;
CREATE UNIQUE INDEX companies_owner_domain_key ON crm.companies (owner_id, domain) NULLS NOT DISTINCT;
ALTER TABLE crm.contacts
  ADD CONSTRAINT contacts_first_name_length CHECK (char_length(first_name) <= 100),
  ADD CONSTRAINT contacts_last_name_length CHECK (char_length(last_name) <= 100),
  ADD CONSTRAINT contacts_email_length CHECK (char_length(email) <= 254),
  ADD CONSTRAINT contacts_phone_length CHECK (char_length(phone) <= 50),
  ADD CONSTRAINT contacts_title_length CHECK (char_length(title) <= 200),
  ADD CONSTRAINT contacts_owner_id_length CHECK (char_length(owner_id) <= 128),
  DROP CONSTRAINT contacts_email_key;
CREATE UNIQUE INDEX contacts_owner_email_key ON crm.contacts (owner_id, email) NULLS NOT DISTINCT;
ALTER TABLE crm.deals
  ADD CONSTRAINT deals_title_length CHECK (char_length(title) <= 300),
  ADD CONSTRAINT deals_owner_id_length CHECK (char_length(owner_id) <= 128);
ALTER TABLE crm.activities
  ADD CONSTRAINT activities_subject_length CHECK (char_length(subject) <= 500),
  ADD CONSTRAINT activities_owner_id_length CHECK (char_length(owner_id) <= 128);
