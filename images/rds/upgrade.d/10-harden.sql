-- Run by the entrypoint as rdsadmin in every database, at the first start and whenever this
-- directory changes (idempotent). What RDS keeps from its users that stock PostgreSQL hands to PUBLIC:
-- Other databases: only rds_superuser (the master user) connects to or makes temp tables in them;
-- roles the master creates reach the databases it grants them.
REVOKE CONNECT, TEMPORARY ON DATABASE template1, postgres FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE template1, postgres TO rds_superuser;
-- Large objects are storage outside every table's grants: only rds_superuser creates them.
REVOKE EXECUTE ON FUNCTION lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea) TO rds_superuser;
