-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Job visibility: pg_cron's jobs and their last run. cron.job has row security (each user sees the
-- jobs it scheduled), so both views are owned by the superuser that schedules them.
--   pgapp_private.jobs  everything, commands and their output included: for the developer
--                       (`pgapp jobs`, psql as the superuser). Commands can carry secrets.
--   api.jobs            GET /jobs for web_user: which jobs exist, when they run, whether they work —
--                       never a command or its output.
CREATE OR REPLACE VIEW pgapp_private.jobs WITH (security_barrier) AS
SELECT j.jobid,
       j.jobname,
       j.schedule,
       j.command,
       j.active,
       r.status       AS last_status,
       r.start_time   AS last_start,
       r.end_time     AS last_end,
       r.return_message AS last_message,
       (SELECT count(*) FROM cron.job_run_details d WHERE d.jobid = j.jobid AND d.status = 'failed') AS failures
FROM cron.job j
LEFT JOIN LATERAL (
  SELECT d.status, d.start_time, d.end_time, d.return_message
  FROM cron.job_run_details d
  WHERE d.jobid = j.jobid
  ORDER BY d.start_time DESC NULLS LAST
  LIMIT 1
) r ON true;
REVOKE ALL ON pgapp_private.jobs FROM PUBLIC;

DROP VIEW IF EXISTS api.jobs;
CREATE VIEW api.jobs WITH (security_barrier) AS
SELECT jobid, jobname, schedule, active, last_status, last_start, last_end, failures
FROM pgapp_private.jobs;
CREATE TRIGGER read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON api.jobs
  FOR EACH ROW EXECUTE FUNCTION pgapp_private.read_only_view();
COMMENT ON VIEW api.jobs IS 'pg_cron jobs and whether their last run worked (web_user only; commands and output are not shown)';
REVOKE ALL ON api.jobs FROM PUBLIC, web_anon, web_user;
GRANT SELECT ON api.jobs TO web_user;
