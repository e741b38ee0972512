-- pgapp:repeatable (idempotent; re-applied when this file changes)
-- Job visibility: pg_cron's jobs and their last run, commands and their output included, for the
-- developer (`pgapp jobs`, psql as the superuser; commands can carry secrets). cron.job has row
-- security (each user sees the jobs it scheduled), so the view is owned by the superuser that
-- schedules them. Not an endpoint: the API serves rds's schemas as PostgREST on rds would.
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

-- An earlier pgapp served it as GET /jobs.
DROP VIEW IF EXISTS api.jobs;
