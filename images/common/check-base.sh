#!/bin/sh
# Stops a build whose base image is not the Debian release that ships PostgreSQL $1: 15 is in
# bookworm, 17 in trixie (each with pg_cron, plpython3 and pgextwlist packages).
set -eu
. /etc/os-release
case "$1:${VERSION_CODENAME:-}" in
  15:bookworm | 17:trixie) exit 0 ;;
esac
case "$1" in
  15) want=bookworm ;;
  17) want=trixie ;;
  *) echo "pgapp: PostgreSQL $1 is not offered: use PG_MAJOR=15 or 17" >&2; exit 1 ;;
esac
echo "pgapp: PostgreSQL $1 comes from Debian $want, but the base image is ${PRETTY_NAME:-unknown}: build with BASE_IMAGE=debian:$want-slim (pgapp images --postgres $1 makes it)" >&2
exit 1
