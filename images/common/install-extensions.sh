#!/bin/sh
# The extensions a project's schema uses, as Debian packages (src/docker/extensions.ts maps the names):
# every package checked against Debian's index first, so a name it lacks stops the build saying which
# (pgapp turns that line into the extension's name), then installed. Nothing to do without packages.
set -eu
[ -n "$*" ] || exit 0
apt-get update
missing=""
for p in "$@"; do
  apt-cache show "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "pgapp: Debian has no package:$missing"
  exit 3
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
rm -rf /var/lib/apt/lists/*
