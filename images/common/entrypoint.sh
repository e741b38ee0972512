#!/bin/bash
# pgapp Postgres entrypoint, shared by images/postgres (custom) and images/rds (RDS stand-in).
#
# First start with an empty data directory: initdb (scram-sha-256, superuser password from env),
# a TLS certificate made for this container (when PGAPP_TLS=on), the image's pg_hba.conf and
# conf.d, then the image's init scripts. Every start: run postgres in the foreground and turn
# SIGTERM/SIGINT into a *fast* shutdown (Postgres' own SIGTERM waits for clients to leave).
# Extra server settings: arguments (`-c key=value`) or *.conf files mounted in /etc/pgapp/conf.d.
set -Eeuo pipefail

# The image names its PostgreSQL major version (ENV PG_MAJOR in images/{postgres,rds}/Dockerfile).
PGBIN="/usr/lib/postgresql/${PG_MAJOR:?the image must set PG_MAJOR}/bin"
# The volume is /var/lib/postgresql/data; the cluster lives one level down so that the marker of an
# unfinished initialisation can sit beside it, outside the directory initdb needs empty.
export PGDATA="${PGDATA:-/var/lib/postgresql/data/pgdata}"
MARKER="$(dirname "$PGDATA")/.pgapp-init-in-progress"
SUPERUSER="${PGAPP_SUPERUSER:-postgres}"

# A server certificate given by pgapp (the project's CA signed it; mounted read-only, owned by whoever
# runs pgapp): staged for the postgres user, who installs it in the data directory below.
TLS_IN=/etc/pgapp/tls
TLS_STAGED=/run/pgapp-tls

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown -R postgres:postgres "$(dirname "$PGDATA")" /run/postgresql
  chmod 700 "$PGDATA"
  rm -rf "$TLS_STAGED"
  if [ -f "$TLS_IN/server.crt" ] && [ -f "$TLS_IN/server.key" ]; then
    install -d -o postgres -g postgres -m 700 "$TLS_STAGED"
    install -o postgres -g postgres -m 600 "$TLS_IN/server.crt" "$TLS_IN/server.key" "$TLS_STAGED/"
  fi
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

# setpriv keeps root's HOME; libpq in the server (postgres_fdw) would look for ~/.postgresql there.
export HOME=/var/lib/postgresql

log() { echo "pgapp-entrypoint: $*"; }

run_sql() { "$PGBIN/psql" -v ON_ERROR_STOP=1 --no-psqlrc -q -h /run/postgresql -U "$SUPERUSER" -d postgres "$@"; }

install_auth_files() {
  cp /etc/pgapp/pg_hba.conf "$PGDATA/pg_hba.conf"
  cp /etc/pgapp/pg_ident.conf "$PGDATA/pg_ident.conf"
}

# The set-up server: socket only (no TCP, so the healthcheck cannot pass), with the image's set-up
# authentication rules when it has some (PGAPP_INIT_HBA: rds lets its superuser in only here).
setup_server() {
  case "$1" in
    start)
      install_auth_files
      local opts="-c listen_addresses='' -c unix_socket_directories=/run/postgresql"
      [ -n "${PGAPP_INIT_HBA:-}" ] && opts="$opts -c hba_file=$PGAPP_INIT_HBA"
      "$PGBIN/pg_ctl" -D "$PGDATA" -o "$opts" -w start >/dev/null ;;
    stop) "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null ;;
  esac
}

# /etc/pgapp/upgrade.d/*.sql: idempotent SQL run as the superuser in every database, at the first
# start and again whenever the directory's content changes (recorded beside the cluster).
UPGRADE_SUM_FILE="$(dirname "$PGDATA")/.pgapp-upgrade.sum"
upgrade_sum() {
  compgen -G '/etc/pgapp/upgrade.d/*.sql' >/dev/null || return 0
  cat /etc/pgapp/upgrade.d/*.sql | sha256sum | cut -d' ' -f1
}
run_upgrades() {
  local sum db f
  sum=$(upgrade_sum)
  [ -n "$sum" ] || return 0
  for db in $(run_sql -At -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"); do
    for f in /etc/pgapp/upgrade.d/*.sql; do
      log "applying $f to $db"
      run_sql -d "$db" -1 -f "$f"
    done
  done
  echo "$sum" >"$UPGRADE_SUM_FILE"
}

# The given certificate (when there is one) into the data directory, replacing whatever an older
# start left there. PGAPP_TLS_CERT_SHA256 names the certificate this container was made for: a
# mount that holds another one is a stale stack, refused rather than served.
install_given_tls() {
  [ -f "$TLS_STAGED/server.crt" ] || return 1
  if [ -n "${PGAPP_TLS_CERT_SHA256:-}" ]; then
    local got
    got=$(openssl x509 -in "$TLS_STAGED/server.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f')
    if [ "$got" != "$PGAPP_TLS_CERT_SHA256" ]; then
      echo "pgapp-entrypoint: $TLS_IN/server.crt is not the certificate this container was made for (rotated since?): run \`pgapp dev\`, or for compose \`npm run compose:env\` and \`docker compose up\`" >&2
      exit 1
    fi
  fi
  cp "$TLS_STAGED/server.crt" "$PGDATA/server.crt"
  cp "$TLS_STAGED/server.key" "$PGDATA/server.key"
  chmod 600 "$PGDATA/server.key"
}

# The image's parameter group file (rds: PGAPP_PARAMETER_GROUP), read after conf.d so that it wins;
# a missing file is skipped. Older volumes get the line at their next start.
include_parameter_group() {
  [ -n "${PGAPP_PARAMETER_GROUP:-}" ] || return 0
  grep -qF "include_if_exists = '$PGAPP_PARAMETER_GROUP'" "$PGDATA/postgresql.conf" \
    || echo "include_if_exists = '$PGAPP_PARAMETER_GROUP'" >>"$PGDATA/postgresql.conf"
}

# A first start that died half-way leaves this marker: nothing of the user's is there yet, start over.
if [ -e "$MARKER" ]; then
  log "a previous initialisation did not complete; starting it again"
  find "$PGDATA" -mindepth 1 -delete
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${PGAPP_SUPERUSER_LOGIN:-on}" = on ]; then
    echo "pgapp-entrypoint: POSTGRES_PASSWORD must be set to initialise a new data directory" >&2
    exit 1
  fi
  log "initialising $PGDATA"
  touch "$MARKER"
  pwfile=$(mktemp)
  # The superuser of the RDS stand-in has no usable password: nobody outside holds it.
  if [ "${PGAPP_SUPERUSER_LOGIN:-on}" = on ]; then printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"; else head -c 32 /dev/urandom | base64 >"$pwfile"; fi
  "$PGBIN/initdb" --no-instructions -D "$PGDATA" --username="$SUPERUSER" --pwfile="$pwfile" --auth-local=peer \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"

  {
    echo "# pgapp"
    echo "listen_addresses = '*'"
    echo "password_encryption = 'scram-sha-256'"
    echo "include_dir = '/etc/pgapp/conf.d'"
  } >>"$PGDATA/postgresql.conf"
  include_parameter_group

  if [ "${PGAPP_TLS:-off}" = on ]; then
    if install_given_tls; then
      log "serving the TLS certificate pgapp issued for this project"
    else
      # Run without pgapp: a self-signed key of this container's own, made now, not at image build
      # (no key shared by every container).
      log "generating a self-signed TLS certificate for CN=${PGAPP_TLS_CN:-localhost}"
      openssl req -new -x509 -days 3650 -nodes -newkey rsa:2048 -subj "/CN=${PGAPP_TLS_CN:-localhost}" \
        -keyout "$PGDATA/server.key" -out "$PGDATA/server.crt" 2>/dev/null
      chmod 600 "$PGDATA/server.key"
    fi
    printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_min_protocol_version = 'TLSv1.2'\n" >>"$PGDATA/postgresql.conf"
  fi

  # Init scripts run against a server that listens on the socket only, so the healthcheck (TCP)
  # cannot pass before initialisation is complete.
  setup_server start
  for f in /etc/pgapp/initdb.d/*; do
    [ -e "$f" ] || continue
    log "running $f"
    case "$f" in
      *.sh) . "$f" ;;
      *.sql) run_sql -f "$f" ;;
    esac
  done
  # The application database, owned by POSTGRES_USER when an init script made that role (rds's
  # master user), by the superuser otherwise.
  if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
    run_sql -v db="$POSTGRES_DB" -v owner="${POSTGRES_USER:-$SUPERUSER}" -v su="$SUPERUSER" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db',
              CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') THEN :'owner' ELSE :'su' END) \gexec
SQL
  fi
  run_upgrades
  setup_server stop
  rm -f "$MARKER"
  log "initialisation complete"
fi

# Data of another major version: PostgreSQL cannot read it, and nothing here converts it. Said
# plainly, with the way forward, and the volume left untouched.
data_major="$(cat "$PGDATA/PG_VERSION" 2>/dev/null || true)"
if [ -n "$data_major" ] && [ "$data_major" != "$PG_MAJOR" ]; then
  echo "pgapp-entrypoint: this data directory holds PostgreSQL $data_major data, but this image runs PostgreSQL $PG_MAJOR." >&2
  echo "pgapp-entrypoint: a major version upgrade needs a dump and restore, as on RDS: keep PostgreSQL $data_major (pgapp: --postgres $data_major; compose: PGAPP_POSTGRES=$data_major), or dump the data, remove the volume and restore into $PG_MAJOR. Nothing was changed." >&2
  exit 1
fi

# A cluster of this image's major version, made by this entrypoint. Anything else is left untouched.
ours() {
  [ "$data_major" = "$PG_MAJOR" ] && [ -f "$PGDATA/postgresql.conf" ]
}
if ours; then
  # The image's authentication rules are the server's, on every start (an older volume gets them too),
  # and so is the certificate pgapp gives it (a rotated one replaces the volume's).
  install_auth_files
  include_parameter_group
  if [ "${PGAPP_TLS:-off}" = on ]; then install_given_tls || true; fi
  # upgrade.d changed since this data directory last ran it (a newer image): apply it now.
  if [ -n "$(upgrade_sum)" ] && [ "$(upgrade_sum)" != "$(cat "$UPGRADE_SUM_FILE" 2>/dev/null)" ]; then
    setup_server start
    run_upgrades
    setup_server stop
  fi
fi

"$PGBIN/postgres" -D "$PGDATA" "$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null' TERM INT
# `wait` returns early when a trapped signal arrives: wait again until postgres has really exited.
while :; do
  wait "$pid" && status=0 || status=$?
  kill -0 "$pid" 2>/dev/null || break
done
exit "$status"
