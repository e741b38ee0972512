-- pgapp's ledger of applied SQL files: the one implementation that `pgapp dev` (src/db/ledger.ts)
-- and compose's setup service (sql/apply.sh) both call, so the two never disagree.
--
-- pgapp_ledger.apply(file, body) runs `body` once per checksum, inside the caller's transaction:
--   'skipped'  already applied with the same checksum
--   'changed'  applied before with another checksum and not repeatable: reported, not run
--   'applied'  run now and recorded
-- The checksum covers the body (trailing white space ignored) and the values of the pgapp.*
-- settings it reads (current_setting('pgapp.x'), set by the caller for the transaction). A body
-- whose first line says pgapp:repeatable is idempotent and runs again whenever its checksum changes.
SELECT pg_advisory_xact_lock(hashtext('pgapp_ledger'));
CREATE SCHEMA IF NOT EXISTS pgapp_ledger;
CREATE TABLE IF NOT EXISTS pgapp_ledger.applied (
  file        text PRIMARY KEY,
  checksum    text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now(),
  duration_ms integer NOT NULL
);
CREATE OR REPLACE FUNCTION pgapp_ledger.apply(p_file text, p_body text) RETURNS text
-- No fixed search_path: the files it runs must see the caller's (CREATE EXTENSION installs into it).
LANGUAGE plpgsql AS $fn$
DECLARE
  body text := regexp_replace(p_body, '\s+$', '');
  repeatable boolean := split_part(body, E'\n', 1) LIKE '%pgapp:repeatable%';
  settings text := '';
  s text;
  v text;
  sum text;
  prev text;
  t0 timestamptz := clock_timestamp();
BEGIN
  -- One applier at a time (a `dev` and a compose setup service, say); held until commit.
  PERFORM pg_advisory_xact_lock(hashtext('pgapp_ledger'));
  FOR s IN SELECT DISTINCT m[1] FROM regexp_matches(body, 'current_setting\(''pgapp\.([a-z_]+)''', 'g') AS m ORDER BY 1 LOOP
    v := current_setting('pgapp.' || s, true);
    IF v IS NULL OR v = '' THEN
      RAISE EXCEPTION '% reads pgapp.%, which the caller did not set', p_file, s
        USING HINT = 'Set it with set_config(''pgapp.' || s || ''', value, true) in the same transaction.';
    END IF;
    settings := settings || E'\n' || s || '=' || v;
  END LOOP;
  sum := encode(sha256(convert_to(body || settings, 'UTF8')), 'hex');
  SELECT checksum INTO prev FROM pgapp_ledger.applied WHERE file = p_file;
  IF prev = sum THEN
    RETURN 'skipped';
  ELSIF prev IS NOT NULL AND NOT repeatable THEN
    RETURN 'changed';
  END IF;
  EXECUTE body;
  INSERT INTO pgapp_ledger.applied AS a (file, checksum, duration_ms)
  VALUES (p_file, sum, (extract(epoch FROM clock_timestamp() - t0) * 1000)::int)
  ON CONFLICT (file) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now(), duration_ms = EXCLUDED.duration_ms;
  RETURN 'applied';
END
$fn$;
REVOKE ALL ON FUNCTION pgapp_ledger.apply(text, text) FROM PUBLIC;
