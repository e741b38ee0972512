#!/bin/bash
# compose's one-shot setup service: pgapp's SQL phases through the same ledger as `pgapp dev`
# (pgapp_ledger.apply in sql/ledger.sql), so the two never disagree about what was applied.
# Everything comes from the environment compose.yaml sets (generated from src/stack):
#   PGAPP_PHASES            "target:dir …" in order, e.g. "rds:rds custom:custom/bridge …"
#   PGAPP_CONN_<target>     libpq connection string; PGAPP_PASSWORD_<target> its password
#   PGAPP_SETTING_<name>    value of pgapp.<name> for every file's transaction
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

for phase in $PGAPP_PHASES; do
  target=${phase%%:*}
  dir=${phase#*:}
  conn_var="PGAPP_CONN_${target}"
  pw_var="PGAPP_PASSWORD_${target}"
  export PGPASSWORD="${!pw_var}"
  psql "${!conn_var}" -X -q -v ON_ERROR_STOP=1 -1 -f ledger.sql >/dev/null
  for f in "$dir"/*.sql; do
    [ -e "$f" ] || continue
    state=$(psql "${!conn_var}" -X -q -t -A -v ON_ERROR_STOP=1 -v file="$f" -v body="$(cat "$f")" "${vars[@]}" <<SQL
BEGIN;
${selects} \\g /dev/null
SELECT pgapp_ledger.apply(:'file', :'body');
COMMIT;
SQL
    ) || { echo "setup: SQL failed in $f (see the error above)" >&2; exit 1; }
    echo "setup: ${state//[$'\n']/} $f"
  done
done
PGPASSWORD="$PGAPP_PASSWORD_custom" psql "$PGAPP_CONN_custom" -X -q -c "NOTIFY pgrst, 'reload schema'"
echo "setup: done"
