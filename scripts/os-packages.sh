#!/bin/sh
# Installs the operating-system packages Mandat needs when they are missing: PostgreSQL with
# PostGIS (the distribution's own major version, or the newest already installed), Python's
# venv module, Pango and fonts for the invoices' PDF and, with WITH_BROWSER=1, Chromium, npm
# and poppler-utils for the browser tests.
# Debian/Ubuntu; needs root or sudo. Nothing is left running: `mandat db start`
# runs a project-local cluster, no system service is used.
set -eu
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
apt_install() {
  echo "installing OS packages: $*"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
updated=""
apt_update() { [ -n "$updated" ] || { $SUDO apt-get update -qq; updated=1; }; }

# Python's venv (Debian splits ensurepip out of python3).
if ! "${PYTHON:-python3}" -c "import ensurepip, venv" >/dev/null 2>&1; then
  apt_update
  version=$("${PYTHON:-python3}" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  apt_install "python$version-venv" || apt_install python3-venv
fi

# PostgreSQL: the newest major version installed, else the distribution's default.
major="${PG_MAJOR:-}"
if [ -z "$major" ]; then
  major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
fi
if [ -z "$major" ]; then
  apt_update
  major=$(apt-cache show postgresql 2>/dev/null | sed -n 's/^Depends: postgresql-\([0-9][0-9]*\).*/\1/p' | head -1)
fi
[ -n "$major" ] || { echo "cannot tell which PostgreSQL to install (set PG_MAJOR)" >&2; exit 1; }
need=""
[ -x "/usr/lib/postgresql/$major/bin/pg_ctl" ] || need="$need postgresql-$major"
[ -f "/usr/share/postgresql/$major/extension/postgis.control" ] || need="$need postgresql-$major-postgis-3"
# WeasyPrint (the invoices' PDF/A) loads Pango and HarfBuzz; the page's fonts are DejaVu's.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
for package in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; do
  installed "$package" || need="$need $package"
done
# The browser tests (make test) need Chromium, npm for the accessibility checker, and
# pdftoppm (poppler-utils) to look at an invoice's PDF.
if [ "${WITH_BROWSER:-0}" = 1 ]; then
  [ -x /usr/bin/chromium ] || need="$need chromium"
  command -v npm >/dev/null 2>&1 || need="$need npm"
  command -v pdftoppm >/dev/null 2>&1 || need="$need poppler-utils"
  # Production's components around PostgreSQL (docs/operations.md): the e2e suite runs once
  # behind PgBouncer, a failover test on a pg_auto_failover pair, a restore test on pgBackRest.
  [ -x /usr/sbin/pgbouncer ] || need="$need pgbouncer"
  [ -x /usr/bin/pgbackrest ] || need="$need pgbackrest"
  [ -f "/usr/share/postgresql/$major/extension/pgautofailover.control" ] && [ -x /usr/bin/pg_autoctl ] ||
    need="$need postgresql-$major-auto-failover pg-auto-failover-cli"
fi
[ -z "$need" ] && exit 0
before=$(ls /etc/postgresql/"$major" 2>/dev/null || true)
apt_update
# shellcheck disable=SC2086
apt_install $need
# The Debian package creates and starts a system cluster: stop the ones it just made, and keep
# them from starting at boot. Clusters that were there before are left alone.
for cluster in $(ls /etc/postgresql/"$major" 2>/dev/null || true); do
  case " $before " in *" $cluster "*) continue ;; esac
  $SUDO pg_ctlcluster "$major" "$cluster" stop 2>/dev/null || true
  echo manual | $SUDO tee "/etc/postgresql/$major/$cluster/start.conf" >/dev/null
done
# Debian's pgbouncer package starts a system PgBouncer: the tests run their own.
case "$need" in
  *pgbouncer*)
    $SUDO systemctl disable --now pgbouncer >/dev/null 2>&1 ||
      $SUDO service pgbouncer stop >/dev/null 2>&1 || true ;;
esac
