-- Keys between the tables, and the indexes that serve them.
ALTER TABLE crm.companies ADD CONSTRAINT companies_domain_key UNIQUE (domain);
ALTER TABLE crm.contacts
  ADD CONSTRAINT contacts_email_key UNIQUE (email),
  ADD CONSTRAINT contacts_company_id_fkey FOREIGN KEY (company_id) REFERENCES crm.companies (id) ON DELETE SET NULL;
ALTER TABLE crm.deals
  ADD CONSTRAINT deals_company_id_fkey FOREIGN KEY (company_id) REFERENCES crm.companies (id) ON DELETE CASCADE,
  ADD CONSTRAINT deals_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES crm.contacts (id) ON DELETE SET NULL;
ALTER TABLE crm.activities
  ADD CONSTRAINT activities_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES crm.contacts (id) ON DELETE CASCADE,
  ADD CONSTRAINT activities_deal_id_fkey FOREIGN KEY (deal_id) REFERENCES crm.deals (id) ON DELETE SET NULL;
CREATE INDEX contacts_company_id_idx ON crm.contacts (company_id);
CREATE INDEX deals_company_id_idx ON crm.deals (company_id);
CREATE INDEX deals_contact_id_idx ON crm.deals (contact_id);
CREATE INDEX activities_contact_id_idx ON crm.activities (contact_id);
CREATE INDEX activities_deal_id_idx ON crm.activities (deal_id);
