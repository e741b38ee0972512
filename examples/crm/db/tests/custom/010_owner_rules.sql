-- pgapp's owner rules, tested as API callers: pgapp_test.as_user() and as_anon() set the role and
-- the token's claims exactly as PostgREST does, and pgapp_test.next_request() runs its pre-request
-- function (the caller's writes are in the replica). `pgapp test` runs this file from a snapshot of
-- both servers and puts them back afterwards: nothing written here stays, on rds either.
SELECT plan(8);

SELECT pgapp_test.as_user('alice');
INSERT INTO crm.companies (name, domain, industry, employees)
VALUES ('Alice Co', 'alice.example.com', 'software', 3);
SELECT pgapp_test.next_request();
SELECT is((SELECT owner_id FROM crm.companies WHERE domain = 'alice.example.com'), 'alice',
          'a row written through the API belongs to its writer');
SELECT throws_ok($$INSERT INTO crm.companies (name, domain, industry, employees, owner_id)
                   VALUES ('X', 'x.example.com', 'software', 1, 'bob')$$,
                 '42501', NULL, 'the owner comes from the token, never from the client');
SELECT throws_ok($$INSERT INTO crm.companies (id, name, domain, industry, employees)
                   VALUES (999999, 'X', 'x.example.com', 'software', 1)$$,
                 '42501', NULL, 'so does the id: rds gives it');

SELECT pgapp_test.as_user('bob');
SELECT is_empty($$SELECT 1 FROM crm.companies WHERE domain = 'alice.example.com'$$,
                'another user does not see a private row');
UPDATE crm.companies SET employees = 99 WHERE domain = 'alice.example.com';
DELETE FROM crm.companies WHERE domain = 'alice.example.com';

SELECT pgapp_test.as_anon();
SELECT is_empty($$SELECT 1 FROM crm.companies WHERE domain = 'alice.example.com'$$,
                'an anonymous caller does not see it either');
SELECT isnt_empty($$SELECT 1 FROM crm.companies WHERE owner_id IS NULL$$,
                  'everyone sees the shared rows');
SELECT throws_ok($$INSERT INTO crm.companies (name, domain, industry, employees)
                   VALUES ('Anon Co', 'anon.example.com', 'software', 1)$$,
                 '42501', NULL, 'an anonymous caller writes nothing');

SELECT pgapp_test.as_superuser();
SELECT is((SELECT employees FROM rds_crm.companies WHERE domain = 'alice.example.com'), 3,
          'what bob could not see he could not change or delete, on rds');
SELECT * FROM finish();
