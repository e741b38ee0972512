# Sourced by the entrypoint on first start, against the socket-only init server, as rdsadmin.
# The master user is what AWS RDS gives you: LOGIN NOSUPERUSER CREATEDB CREATEROLE INHERIT, a member
# of rds_superuser, owner of the initial database. No untrusted language, no server-side COPY.
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD (password of the master user) is required}"
run_sql -v master="$POSTGRES_USER" -v password="$POSTGRES_PASSWORD" <<'SQL'
CREATE ROLE rds_superuser NOLOGIN;
GRANT pg_monitor, pg_signal_backend, pg_checkpoint TO rds_superuser WITH ADMIN OPTION;
CREATE ROLE :"master" LOGIN NOSUPERUSER CREATEDB CREATEROLE INHERIT PASSWORD :'password';
GRANT rds_superuser TO :"master" WITH ADMIN OPTION;
ALTER DATABASE postgres OWNER TO :"master";
SQL
