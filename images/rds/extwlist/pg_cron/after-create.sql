-- pgextwlist runs this as the superuser right after it creates pg_cron for the master user: as on
-- RDS, rds_superuser (the master user) may then schedule jobs and grant others the cron schema.
GRANT USAGE ON SCHEMA cron TO rds_superuser WITH GRANT OPTION;
GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA cron TO rds_superuser WITH GRANT OPTION;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cron TO rds_superuser WITH GRANT OPTION;
