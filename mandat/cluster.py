"""The project-local PostGIS cluster: data under .mandat/, its own port, loopback only
(`mandat db start`, `mandat db stop`). Where it listens and how to log in to it is
engine.local_cluster's, which the database URL falls back on when DATABASE_URL is unset.

PostgreSQL refuses to run as root, so when we are root the server runs as the `postgres` user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

from engine import local_cluster
from engine.config import STATE_DIR
from engine.local_cluster import (
    APP_USER,
    DATA,
    DB_NAME,
    PASSWORD_FILE,
    PORT,
    SOCKETS,
    USER,
    ClusterError,
    url,
    write_private,
)

__all__ = [
    "APP_USER",
    "DATA",
    "DB_NAME",
    "LOG",
    "PASSWORD_FILE",
    "PORT",
    "SOCKETS",
    "USER",
    "ClusterError",
    "as_server_user",
    "bin_path",
    "create_app_login",
    "is_running",
    "major_version",
    "start",
    "stop",
    "url",
]

LOG = SOCKETS / "postgres.log"


@cache
def major_version() -> str:
    """PG_MAJOR, else the version the data directory was made with, else the newest installed."""
    if os.environ.get("PG_MAJOR"):
        return os.environ["PG_MAJOR"]
    if (DATA / "PG_VERSION").exists():
        return (DATA / "PG_VERSION").read_text().strip()
    installed = sorted(
        (p.parent.parent.name for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")),
        key=lambda v: int(v) if v.isdigit() else 0,
    )
    if not installed:
        raise ClusterError("PostgreSQL is not installed: `make run` installs it")
    return installed[-1]


def bin_path(name: str) -> str:
    path = Path(f"/usr/lib/postgresql/{major_version()}/bin/{name}")
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        raise ClusterError(f"{name} not found: install postgresql-{major_version()}")
    return found


def as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", USER, "--", *cmd]


def create_app_login(admin_url: str, password: str | None) -> None:
    """Makes `mandat_app` a role that logs in (with `password` when given), creating it when
    missing: migration 0032 grants it its rights on each database."""
    import psycopg
    from psycopg import sql

    login = sql.SQL("LOGIN") + (
        sql.SQL(" PASSWORD {}").format(sql.Literal(password)) if password else sql.SQL("")
    )
    role = sql.Identifier(APP_USER)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE ROLE {} ").format(role) + login)
        except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("ALTER ROLE {} ").format(role) + login)


def _make_reachable_by_server_user() -> None:
    """The server user must traverse every parent directory of .mandat/ and own its data."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    for path in [STATE_DIR, *STATE_DIR.parents]:
        mode = path.stat().st_mode
        if not mode & 0o001:
            path.chmod(mode | 0o001)
            print(
                f"mandat: gave others search (x) permission on {path} so that the "
                f"'{USER}' user can reach {STATE_DIR}",
                file=sys.stderr,
            )
    SOCKETS.mkdir(mode=0o700, exist_ok=True)
    shutil.chown(SOCKETS, USER, USER)


def _running_port() -> int | None:
    """The port of the cluster running on our data directory, or None."""
    pid_file = DATA / "postmaster.pid"
    if not pid_file.exists() or not _pg_ctl_status():
        return None
    lines = pid_file.read_text().splitlines()
    return int(lines[3]) if len(lines) > 3 and lines[3].isdigit() else None


def _pg_ctl_status() -> bool:
    result = subprocess.run(
        as_server_user([bin_path("pg_ctl"), "status", "-D", str(DATA)]),
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def is_running() -> bool:
    return (DATA / "PG_VERSION").exists() and _pg_ctl_status()


def port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def first_free_pair(port: int) -> int:
    """The first port from `port` on (by twos) free with the next one: a cluster's and its
    PgBouncer's, when another checkout's hold the defaults (`.ci/run`)."""
    while port_taken(port) or port_taken(port + 1):
        port += 2
    return port


def start() -> str:
    """Initialises the cluster on first use, starts it, creates the database; returns its URL."""
    if os.geteuid() == 0:
        _make_reachable_by_server_user()
    else:
        SOCKETS.mkdir(parents=True, mode=0o700, exist_ok=True)
    if not (DATA / "PG_VERSION").exists():
        _initdb()
    running_on = _running_port()
    if running_on is not None and running_on != PORT:
        raise ClusterError(
            f"the cluster already runs on port {running_on}: `mandat db stop` first, "
            f"or set MANDAT_DB_PORT={running_on}"
        )
    if running_on is None:
        if port_taken(PORT):
            raise ClusterError(
                f"port {PORT} is used by another program: set MANDAT_DB_PORT to a free port"
            )
        options = f"-p {PORT} -k {SOCKETS} -c listen_addresses=127.0.0.1"
        command = [bin_path("pg_ctl"), "start", "-w", "-t", "60", "-D", str(DATA), "-l", str(LOG)]
        started = subprocess.run(
            as_server_user([*command, "-o", options]), capture_output=True, check=False
        )
        if started.returncode != 0:
            raise ClusterError(f"PostgreSQL did not start: {_log_tail()}")
    _wait_ready()
    _create_database(DB_NAME)
    create_app_login(url("postgres"), local_cluster.password())
    return url()


def _log_tail() -> str:
    try:
        lines = [line for line in LOG.read_text().splitlines() if line.strip()]
    except OSError:
        return f"no log at {LOG}"
    return " | ".join(lines[-3:]) or f"see {LOG}"


def _initdb() -> None:
    """A new cluster, made in a scratch directory and moved into place once complete, so that an
    interrupted initdb leaves nothing half-made behind."""
    scratch = STATE_DIR / "pgdata.initdb"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(mode=0o700)
    pwfile = SOCKETS / "initdb-pw"
    pwfile.unlink(missing_ok=True)
    write_private(pwfile, local_cluster.password())
    if os.geteuid() == 0:
        shutil.chown(scratch, USER, USER)
        shutil.chown(pwfile, USER, USER)
    try:
        command = [
            bin_path("initdb"),
            "-D",
            str(scratch),
            "-U",
            USER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]
        subprocess.run(as_server_user(command), check=True, capture_output=True)
    finally:
        pwfile.unlink(missing_ok=True)
    tuning = (
        "\n# Mandat: a small development/test cluster\n"
        "shared_buffers = 256MB\nwork_mem = 16MB\nmax_connections = 300\n"
    )
    with (scratch / "postgresql.conf").open("a") as conf:
        conf.write(tuning)
    if DATA.exists():
        DATA.rmdir()  # an empty leftover; a non-empty one makes this fail loudly
    scratch.rename(DATA)


def _wait_ready(timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = subprocess.run(
            [bin_path("pg_isready"), "-h", "127.0.0.1", "-p", str(PORT)],
            capture_output=True,
            check=False,
        )
        if result.returncode == 0:
            return
        time.sleep(0.2)
    raise ClusterError(f"PostgreSQL did not become ready on port {PORT}: {_log_tail()}")


def _create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def stop() -> None:
    if is_running():
        subprocess.run(
            as_server_user([bin_path("pg_ctl"), "stop", "-m", "fast", "-D", str(DATA)]),
            check=True,
            stdout=subprocess.DEVNULL,
        )
