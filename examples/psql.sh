#!/bin/sh
# psql against both databases, with the connection strings `pgapp env` writes:
#   npm run -s pgapp -- env > .env.local && (set -a && . ./.env.local && sh examples/psql.sh)
# RDS_DATABASE_URL carries sslmode=verify-full and the project's CA as sslrootcert: psql verifies rds.
set -eu
psql "$RDS_DATABASE_URL" -Atc "SELECT 'rds: ' || count(*) || ' contacts, TLS ' || (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()) FROM crm.contacts"
psql "$DATABASE_URL" -Atc "SELECT 'custom: ' || count(*) || ' contacts served by the api' FROM crm.contacts"
