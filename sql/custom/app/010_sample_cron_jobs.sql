-- pgapp:repeatable (idempotent; re-applied when this file or pgapp.cron_jobs changes)
-- Sample pg_cron jobs, on unless `cronJobs` is false:
--   pgapp-analyze-foreign  hourly: fresh local statistics of the foreign tables (better plans and
--                          count=planned for PostgREST; rds data changes under our feet).
--   pgapp-purge-cron-log   daily: keep a week of cron.job_run_details.
DO $$
DECLARE
  jobs jsonb := jsonb_build_object(
    'pgapp-analyze-foreign', jsonb_build_array('7 * * * *', 'ANALYZE rds_crm.companies, rds_crm.contacts, rds_crm.deals, rds_crm.activities'),
    'pgapp-purge-cron-log', jsonb_build_array('23 3 * * *', $j$DELETE FROM cron.job_run_details WHERE end_time < now() - interval '7 days'$j$));
  j record;
BEGIN
  FOR j IN SELECT key, value FROM jsonb_each(jobs) LOOP
    IF current_setting('pgapp.cron_jobs')::boolean THEN
      -- cron.schedule(name, …) replaces a job of the same name.
      PERFORM cron.schedule(j.key, j.value ->> 0, j.value ->> 1);
    ELSIF EXISTS (SELECT 1 FROM cron.job WHERE jobname = j.key) THEN
      PERFORM cron.unschedule(j.key);
    END IF;
  END LOOP;
END $$;
