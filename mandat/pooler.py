"""The project-local PgBouncer in front of the project-local cluster, in transaction mode, as
production runs Mandat (docs/operations.md): its own port, its configuration under
.mandat/pgbouncer/, started and stopped with the cluster (`mandat db start --pooler`).

Behind it Mandat runs with MANDAT_DB_PREPARE=0 (no server-side prepared statements), and what
holds a session — the scheduler's lock, LISTEN — uses MANDAT_DIRECT_DATABASE_URL (migrations,
the owner's, connect directly too). It knows the cluster's superuser and `mandat_app`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from engine.config import STATE_DIR
from mandat import cluster

PORT = int(os.environ.get("MANDAT_POOLER_PORT", str(cluster.PORT + 1)))
HOME = STATE_DIR / "pgbouncer"
CONFIG = HOME / "pgbouncer.ini"
USERS = HOME / "userlist.txt"
PID_FILE = HOME / "pgbouncer.pid"
LOG = HOME / "pgbouncer.log"
BINARY = "/usr/sbin/pgbouncer"


class PoolerError(RuntimeError):
    pass


def url(dbname: str = cluster.DB_NAME, user: str = cluster.USER) -> str:
    """The cluster's URL through PgBouncer (same users and password)."""
    return cluster.url(dbname, user).replace(f":{cluster.PORT}/", f":{PORT}/")


def _config() -> str:
    return f"""\
;; Written by `mandat db start --pooler`: rewritten on each start.
[databases]
* = host=127.0.0.1 port={cluster.PORT}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {PORT}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {USERS}
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 40
reserve_pool_size = 10
server_lifetime = 3600
server_idle_timeout = 60
ignore_startup_parameters = extra_float_digits
logfile = {LOG}
pidfile = {PID_FILE}
"""


def _running_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def _write(path: Path, content: str) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content)
    if os.geteuid() == 0:
        shutil.chown(path, cluster.USER, cluster.USER)


def start() -> str:
    """Starts PgBouncer in front of the running cluster (once); returns the pooled URL."""
    if not Path(BINARY).exists():
        raise PoolerError("PgBouncer is not installed: `make test` installs it")
    HOME.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(HOME, cluster.USER, cluster.USER)
    password = cluster.url().split("@", 1)[0].rsplit(":", 1)[1]
    _write(USERS, "".join(f'"{user}" "{password}"\n' for user in (cluster.USER, cluster.APP_USER)))
    running = _running_pid()
    if running is not None:
        with contextlib.suppress(PermissionError):  # reads the users again
            os.kill(running, signal.SIGHUP)
        return url()
    _write(CONFIG, _config())
    command = [BINARY, "-d", "-q", str(CONFIG)]
    started = subprocess.run(
        cluster.as_server_user(command), capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        raise PoolerError(f"PgBouncer did not start: {started.stderr.strip() or _log_tail()}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", PORT)) == 0:
                return url()
        time.sleep(0.1)
    raise PoolerError(f"PgBouncer did not listen on port {PORT}: {_log_tail()}")


def stop() -> None:
    pid = _running_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)  # immediate shutdown: clients see their connection end
    deadline = time.monotonic() + 10
    while _running_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)


def _log_tail() -> str:
    try:
        return " | ".join(LOG.read_text().splitlines()[-3:])
    except OSError:
        return f"no log at {LOG}"
