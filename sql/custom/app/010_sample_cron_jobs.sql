-- pgapp:repeatable (idempotent; re-applied when this file or pgapp.cron_jobs changes)
-- Sample pg_cron jobs, on unless `cronJobs` is false:
--   pgapp-analyze-foreign  hourly: fresh local statistics of every foreign table (better plans and
--                          count=planned for PostgREST; rds data changes under our feet).
--   pgapp-purge-cron-log   daily: keep a week of cron.job_run_details.

-- ANALYZE of every foreign table pgapp made from rds's catalog.
CREATE OR REPLACE FUNCTION pgapp_private.analyze_foreign() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  t text;
  n integer := 0;
BEGIN
  FOR t IN SELECT regexp_replace(object, '^foreign table ', '') FROM pgapp_private.generated WHERE kind = 'foreign table' LOOP
    EXECUTE format('ANALYZE %s', t);
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;
REVOKE ALL ON FUNCTION pgapp_private.analyze_foreign() FROM PUBLIC;

DO $$
DECLARE
  jobs jsonb := jsonb_build_object(
    'pgapp-analyze-foreign', jsonb_build_array('7 * * * *', 'SELECT pgapp_private.analyze_foreign()'),
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
