// node-postgres against both databases, with the connection strings `pgapp env` writes:
//   npm run -s pgapp -- env > .env.local && node --env-file=.env.local examples/node-postgres.mjs
// RDS_DATABASE_URL verifies rds's certificate as an RDS client would (sslmode=verify-full, with the
// project's CA as sslrootcert): pg reads both from the URL, nothing else to configure.
import pg from 'pg';

for (const [name, url] of [
  ['custom', process.env.DATABASE_URL],
  ['rds', process.env.RDS_DATABASE_URL],
]) {
  if (!url)
    throw new Error(`${name}: no connection string in the environment (see the first lines of this file)`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT (SELECT count(*) FROM crm.contacts)::int AS contacts,
              coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS tls`,
    );
    console.log(
      `${name}: ${rows[0].contacts} contacts, TLS ${rows[0].tls ? 'verified' : 'off (custom: 127.0.0.1 only)'}`,
    );
  } finally {
    await client.end();
  }
}
