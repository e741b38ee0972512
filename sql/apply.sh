#!/bin/bash
# compose's one-shot setup service: pgapp's SQL phases through the same ledger as `pgapp dev`
# (pgapp_ledger.apply in sql/ledger.sql), so the two never disagree about what was applied.
# Everything comes from the environment compose.yaml sets (generated from src/stack):
#   PGAPP_PHASES            "target:dir …" and "target:call:function …" in order, e.g.
#                           "rds:rds-standin rds:db/rds/migrations … rds:call:pgapp_bridge.prepare …"
#                           (pgapp's own dirs under /sql; the project's, db/…, under /db)
#   PGAPP_CONN_<target>     libpq connection string; PGAPP_PASSWORD_<target> its password
#   PGAPP_SETTING_<name>    value of pgapp.<name> for every file's and step's transaction
set -euo pipefail
cd /sql
export PGOPTIONS='-c client_min_messages=warning'

vars=()
selects="SELECT 1"
while IFS='=' read -r key _; do
  name=${key#PGAPP_SETTING_}
  vars+=(-v "s_${name}=${!key}")
  selects+=", set_config('pgapp.${name}', :'s_${name}', true)"
done < <(env | grep -o '^PGAPP_SETTING_[a-z_]*=' | sort)

applied_ledger=""
for phase in $PGAPP_PHASES; do
  target=${phase%%:*}
  item=${phase#*:}
  conn_var="PGAPP_CONN_${target}"
  pw_var="PGAPP_PASSWORD_${target}"
  export PGPASSWORD="${!pw_var}"
  case " $applied_ledger " in
    *" $target "*) ;;
    *) psql "${!conn_var}" -X -q -v ON_ERROR_STOP=1 -1 -f ledger.sql >/dev/null; applied_ledger+=" $target" ;;
  esac
  if [ "${item%%:*}" = call ]; then
    fn=${item#call:}
    out=$(psql "${!conn_var}" -X -q -t -A -v ON_ERROR_STOP=1 "${vars[@]}" <<SQL
BEGIN;
${selects} \\g /dev/null
SELECT ${fn}();
COMMIT;
SQL
    ) || { echo "setup: ${fn}() failed (see the error above)" >&2; exit 1; }
    echo "setup: ${fn}() ${out//[$'\n']/}"
    continue
  fi
  dir=$item
  # The project's SQL (db/…) is mounted at /db; its ledger names are the same as `pgapp dev`'s.
  case "$dir" in db/*) path="/$dir" ;; *) path="$dir" ;; esac
  for f in "$path"/*.sql; do
    [ -e "$f" ] || continue
    name="$dir/$(basename "$f")"
    state=$(psql "${!conn_var}" -X -q -t -A -v ON_ERROR_STOP=1 -v file="$name" -v body="$(cat "$f")" "${vars[@]}" <<SQL
BEGIN;
${selects} \\g /dev/null
SELECT pgapp_ledger.apply(:'file', :'body');
COMMIT;
SQL
    ) || { echo "setup: SQL failed in $name (see the error above)" >&2; exit 1; }
    echo "setup: ${state//[$'\n']/} $name"
  done
done
PGPASSWORD="$PGAPP_PASSWORD_custom" psql "$PGAPP_CONN_custom" -X -q -c "NOTIFY pgrst, 'reload schema'"
echo "setup: done"
