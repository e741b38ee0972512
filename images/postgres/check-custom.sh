#!/bin/sh
# The project's own custom ("custom" in pgapp.config.json), checked while the image is built, so that
# a bad one stops the build and nothing running changes: a throwaway server of this very image starts
# with the project's settings (conf.d/50-project.conf), then creates each extension and imports each
# Python library in plpython3u. Every refusal is a line `pgapp: custom refuses: …` in the server's own
# words (src/docker/pg-images.ts reads them). Nothing to do when the project adds nothing.
# Usage (root, at build): check-custom.sh "<extensions>" "<python modules>"
set -eu
EXTENSIONS="$1"
MODULES="$2"
[ -n "$EXTENSIONS$MODULES" ] || [ -s /etc/pgapp/conf.d/50-project.conf ] || exit 0

BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
DIR=$(mktemp -d)
chown postgres:postgres "$DIR"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
refuse() { echo "pgapp: custom refuses: $*"; FAILED=1; }
FAILED=0

as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
echo "include_dir = '/etc/pgapp/conf.d'" >>"$DIR/data/postgresql.conf"
if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories=$DIR" start >/dev/null; then
  # The server's own words: what it could not take (FATAL/ERROR/LOG lines naming the setting).
  grep -E 'FATAL|ERROR|invalid|unrecognized|could not' "$DIR/log" | sed 's/^.*\(FATAL\|ERROR\|LOG\|WARNING\): *//' \
    | sort -u | while read -r line; do echo "pgapp: custom refuses: $line"; done
  echo "pgapp: custom refuses: the server does not start with these settings"
  exit 3
fi
sql() { as_pg "$BIN/psql" -h "$DIR" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atq "$@"; }

# A setting the server took but did not apply (a bad value for an extension's own setting, a name
# under a library's prefix that it does not define) is not silently dropped.
sql -c "SELECT f.name || ' = ' || coalesce(f.setting, '') || ': ' || coalesce(f.error, 'not applied')
          FROM pg_file_settings f
         WHERE f.sourcefile LIKE '%/50-project.conf' AND (f.error IS NOT NULL OR NOT f.applied)
        UNION ALL
        SELECT f.name || ': the server knows no such setting'
          FROM pg_file_settings f
         WHERE f.sourcefile LIKE '%/50-project.conf' AND f.error IS NULL AND f.applied
           AND current_setting(f.name, true) IS NULL" >"$DIR/settings" 2>&1 || true
while read -r line; do refuse "$line"; done <"$DIR/settings"
# What the server warned of in its own words: a name under a loaded library's prefix that it does not
# define, a value that library's setting does not take.
grep -E 'WARNING: +invalid (configuration parameter name|value for parameter)' "$DIR/log" | sed 's/^.*WARNING: *//' \
  | sort -u | while read -r line; do echo "pgapp: custom refuses: $line"; done
grep -qE 'WARNING: +invalid (configuration parameter name|value for parameter)' "$DIR/log" && FAILED=1

for e in $EXTENSIONS; do
  out=$(sql -c "CREATE EXTENSION IF NOT EXISTS \"$e\" CASCADE" 2>&1) || refuse "extension $e: $(echo "$out" | sed 's/^.*ERROR: *//' | head -1)"
done
if [ -n "$MODULES" ]; then
  sql -c "CREATE EXTENSION IF NOT EXISTS plpython3u" >/dev/null
  for m in $MODULES; do
    out=$(sql -c "DO \$\$import $m\$\$ LANGUAGE plpython3u" 2>&1) \
      || refuse "Python library $m does not import: $(echo "$out" | grep -E 'Error' | head -1 | sed 's/^.*ERROR: *//')"
  done
fi

as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
rm -rf "$DIR"
[ "$FAILED" = 0 ] || exit 3
echo "pgapp: custom takes the project's settings, extensions and Python libraries"
