-- Writes to crm's tables on custom go to rds in the caller's transaction (write_through), and the caller's
-- next request reads them back from the replica (await_writes).
SELECT plan(8);

SELECT pgapp_test.as_user('alice');
INSERT INTO crm.companies (name, domain, industry, employees)
VALUES ('Through Co', 'through.example.com', 'media', 5);
SELECT pgapp_test.as_superuser();
SELECT is((SELECT owner_id FROM rds_crm.companies WHERE domain = 'through.example.com'), 'alice',
          'an insert reaches rds, stamped with its owner');

SELECT pgapp_test.as_user('alice');
SELECT is((SELECT employees FROM crm.companies WHERE domain = 'through.example.com'), 5,
          'the next request reads it back from the replica');
UPDATE crm.companies SET employees = 6 WHERE domain = 'through.example.com';
SELECT pgapp_test.next_request();
SELECT is((SELECT employees FROM crm.companies WHERE domain = 'through.example.com'), 6,
          'an update too');
SELECT pgapp_test.as_superuser();
SELECT is((SELECT employees FROM rds_crm.companies WHERE domain = 'through.example.com'), 6,
          'on rds');

SELECT pgapp_test.as_user('alice');
DELETE FROM crm.companies WHERE domain = 'through.example.com';
SELECT pgapp_test.next_request();
SELECT is_empty($$SELECT 1 FROM crm.companies WHERE domain = 'through.example.com'$$, 'a delete too');
SELECT pgapp_test.as_superuser();
SELECT is_empty($$SELECT 1 FROM rds_crm.companies WHERE domain = 'through.example.com'$$, 'on rds');

SELECT pgapp_test.as_user('alice');
SELECT throws_ok($$INSERT INTO crm.contacts (company_id, first_name, last_name, email)
                   VALUES (-1, 'No', 'Body', 'no.body@example.com')$$,
                 '42501', NULL, 'a reference to a company she cannot see is refused on custom, before rds');
SELECT throws_ok($$INSERT INTO crm.contacts (first_name, last_name, email) VALUES ('No', 'Body', 'nobody')$$,
                 '23514', NULL, 'rds''s own constraints are the last word');
SELECT * FROM finish();
