#!/bin/sh
# Installs the operating-system packages Mandat needs (PostgreSQL + PostGIS) when they are missing.
# Debian/Ubuntu only; needs root (or sudo). Nothing is started here: `mandat db start` runs a
# project-local cluster, no system service is used.
set -eu
PG_MAJOR="${PG_MAJOR:-15}"
need=""
[ -x "/usr/lib/postgresql/$PG_MAJOR/bin/pg_ctl" ] || need="$need postgresql-$PG_MAJOR"
[ -f "/usr/share/postgresql/$PG_MAJOR/extension/postgis.control" ] || need="$need postgresql-$PG_MAJOR-postgis-3"
if [ "${WITH_BROWSER:-0}" = 1 ]; then command -v chromium >/dev/null 2>&1 || need="$need chromium"; fi
[ -z "$need" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "installing OS packages:$need"
$SUDO apt-get update -qq
# The Debian package would also create and start a system cluster; we never use it.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
for v in /etc/postgresql/"$PG_MAJOR"/*; do
  [ -d "$v" ] && $SUDO pg_ctlcluster "$PG_MAJOR" "$(basename "$v")" stop 2>/dev/null || true
done
