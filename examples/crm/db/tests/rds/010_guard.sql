-- On rds the tests run as the master user, as on RDS: not a superuser, and the stand-in's guard
-- refuses it what RDS refuses its master user.
SELECT plan(6);

SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), 'the master user is not a superuser');
SELECT ok(pg_has_role(current_user, 'rds_superuser', 'member'), 'it is a member of rds_superuser');
SELECT throws_ok('GRANT pg_read_server_files TO ' || quote_ident(current_user), '42501', NULL,
                 'it cannot grant itself the roles that reach the server''s files');
SELECT throws_ok($$COPY (SELECT 1) TO PROGRAM 'id'$$, '42501', NULL, 'nor run a program');
SELECT throws_ok($$CREATE EXTENSION plpython3u$$, NULL, NULL, 'nor create an extension RDS does not offer');
SELECT throws_ok('ALTER ROLE ' || quote_ident(current_user) || ' SET shared_preload_libraries = ''pg_cron''', '42501', NULL,
                 'nor preload libraries (the parameter group owns them)');
SELECT * FROM finish();
