-- The example's pg_cron cache obeys the tables' visibility: a user's private deal counts in their
-- own pipeline only, once the refresh job has run.
SELECT plan(3);

-- The shared part of company 1's pipeline (the cache itself is not the API roles' to read).
SELECT pipeline_amount AS shared FROM cache.company_totals WHERE company_id = 1 \gset

SELECT pgapp_test.as_user('alice');
INSERT INTO crm.deals (company_id, title, stage, amount) VALUES (1, 'Alice private deal', 'proposal', 1000);
SELECT pgapp_test.as_superuser();
SELECT cache.refresh();

SELECT pgapp_test.as_user('alice');
SELECT is((SELECT pipeline_amount FROM crm.company_pipeline WHERE company_id = 1), :shared + 1000,
          'the owner''s pipeline counts her private deal');
SELECT pgapp_test.as_user('bob');
SELECT is((SELECT pipeline_amount FROM crm.company_pipeline WHERE company_id = 1), :shared,
          'another user''s does not');
SELECT pgapp_test.as_anon();
SELECT is((SELECT pipeline_amount FROM crm.company_pipeline WHERE company_id = 1), :shared,
          'nor an anonymous caller''s');
SELECT * FROM finish();
