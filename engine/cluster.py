"""The project-local PostGIS cluster: data under .mandat/, its own port, loopback only.

PostgreSQL refuses to run as root, so when we are root the server runs as the `postgres` user.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from engine.config import STATE_DIR

PG_MAJOR = os.environ.get("PG_MAJOR", "15")
PORT = int(os.environ.get("MANDAT_DB_PORT", "54329"))
DB_NAME = "mandat"
USER = "postgres"

DATA = STATE_DIR / "pgdata"
SOCKETS = STATE_DIR / "run"
LOG = SOCKETS / "postgres.log"
PASSWORD_FILE = STATE_DIR / "db-password"


class ClusterError(RuntimeError):
    pass


def _bin(name: str) -> str:
    path = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin/{name}")
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        raise ClusterError(f"{name} not found: install postgresql-{PG_MAJOR} (make setup does)")
    return found


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", USER, "--", *cmd]


def _password() -> str:
    if not PASSWORD_FILE.exists():
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        PASSWORD_FILE.write_text(secrets.token_urlsafe(24))
        PASSWORD_FILE.chmod(0o600)
    return PASSWORD_FILE.read_text().strip()


def url(dbname: str = DB_NAME) -> str:
    return f"postgresql://{USER}:{_password()}@127.0.0.1:{PORT}/{dbname}"


def _make_reachable_by_server_user() -> None:
    """The server user must traverse every parent directory of .mandat/ and own its data."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    for path in [STATE_DIR, *STATE_DIR.parents]:
        mode = path.stat().st_mode
        if not mode & 0o001:
            path.chmod(mode | 0o001)
    for path in (DATA, SOCKETS):
        path.mkdir(parents=True, exist_ok=True)
    shutil.chown(DATA, USER, USER)
    shutil.chown(SOCKETS, USER, USER)
    DATA.chmod(0o700)


def is_running() -> bool:
    if not (DATA / "PG_VERSION").exists():
        return False
    result = subprocess.run(
        _as_server_user([_bin("pg_ctl"), "status", "-D", str(DATA)]),
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def start() -> str:
    """Initialises the cluster on first use, starts it, creates the database; returns its URL."""
    if os.geteuid() == 0:
        _make_reachable_by_server_user()
    else:
        DATA.mkdir(parents=True, exist_ok=True)
        SOCKETS.mkdir(parents=True, exist_ok=True)
    if not (DATA / "PG_VERSION").exists():
        _initdb()
    if not is_running():
        options = f"-p {PORT} -k {SOCKETS} -c listen_addresses=127.0.0.1"
        subprocess.run(
            _as_server_user(
                [
                    _bin("pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(DATA),
                    "-l",
                    str(LOG),
                    "-o",
                    options,
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    _wait_ready()
    _create_database(DB_NAME)
    return url()


def _initdb() -> None:
    pwfile = SOCKETS / "initdb-pw"
    pwfile.write_text(_password())
    if os.geteuid() == 0:
        shutil.chown(pwfile, USER, USER)
    try:
        subprocess.run(
            _as_server_user(
                [
                    _bin("initdb"),
                    "-D",
                    str(DATA),
                    "-U",
                    USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    tuning = (
        "\n# Mandat: a small development/test cluster\n"
        "shared_buffers = 256MB\nwork_mem = 16MB\nmax_connections = 300\n"
        "fsync = on\nsynchronous_commit = on\n"
    )
    with (DATA / "postgresql.conf").open("a") as conf:
        conf.write(tuning)


def _wait_ready(timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = subprocess.run(
            [_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(PORT)],
            capture_output=True,
            check=False,
        )
        if result.returncode == 0:
            return
        time.sleep(0.2)
    raise ClusterError(f"PostgreSQL did not become ready on port {PORT}; see {LOG}")


def _create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def stop() -> None:
    if is_running():
        subprocess.run(
            _as_server_user([_bin("pg_ctl"), "stop", "-m", "fast", "-D", str(DATA)]),
            check=True,
            stdout=subprocess.DEVNULL,
        )
