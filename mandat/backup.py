"""Backups of the project-local cluster with pgBackRest: full and incremental backups plus the
WAL archive, in a repository under .mandat/backup/, so the cluster can be restored to any moment
since the first backup (`mandat db backup`, `mandat db restore --to TIME`).

The first backup turns WAL archiving on, which restarts the cluster once. A restore never
touches the running cluster: it makes a new one (its own directory and port) as the database
was at TIME; point DATABASE_URL at it, or swap the directories once it looks right.
Production runs the same commands from its own pgBackRest configuration (docs/operations.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

from engine.config import STATE_DIR
from mandat import cluster

STANZA = "mandat"
HOME = STATE_DIR / "backup"
CONFIG = HOME / "pgbackrest.conf"
PASSFILE = HOME / "pgpass"
BINARY = "/usr/bin/pgbackrest"


class BackupError(RuntimeError):
    pass


def _config() -> str:
    return f"""\
# Written by `mandat db backup`: rewritten on each run.
[global]
repo1-path={HOME / "repo"}
repo1-retention-full=2
log-path={HOME / "log"}
lock-path={HOME / "lock"}
log-level-console=warn
log-level-file=info
start-fast=y
compress-type=zst

[{STANZA}]
pg1-path={cluster.DATA}
pg1-port={cluster.PORT}
pg1-socket-path={cluster.SOCKETS}
pg1-user={cluster.USER}
"""


def _prepare() -> None:
    if not Path(BINARY).exists():
        raise BackupError("pgBackRest is not installed: `make test` installs it")
    for path in (HOME, HOME / "repo", HOME / "log", HOME / "lock"):
        path.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(path, cluster.USER, cluster.USER)
    password = cluster.url().split("@", 1)[0].rsplit(":", 1)[1]
    for path, content in (
        (CONFIG, _config()),
        (PASSFILE, f"*:{cluster.PORT}:*:{cluster.USER}:{password}\n"),
    ):
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(content)
        if os.geteuid() == 0:
            shutil.chown(path, cluster.USER, cluster.USER)


def _pgbackrest(*args: str) -> str:
    command = ["env", f"PGPASSFILE={PASSFILE}", BINARY, f"--config={CONFIG}", f"--stanza={STANZA}"]
    done = subprocess.run(
        cluster.as_server_user([*command, *args]), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"pgbackrest {args[0]}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _archiving_on() -> bool:
    import psycopg

    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('archive_mode'), current_setting('archive_command')"
        ).fetchone()
    return row is not None and row[0] == "on" and f"--config={CONFIG}" in row[1]


def _turn_archiving_on() -> None:
    """archive_mode needs a restart: done once, the first time."""
    import psycopg

    push = f"{BINARY} --config={CONFIG} --stanza={STANZA} archive-push %p"
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET archive_mode = on")
        conn.execute(f"ALTER SYSTEM SET archive_command = '{push}'")
    cluster.stop()
    cluster.start()


def backup(kind: str = "incr") -> str:
    """A backup of the running cluster (`full`, `diff` or `incr`; the first one is full);
    returns its label. Keeps two full backups and the WAL since the older one."""
    if not cluster.is_running():
        raise BackupError("the cluster is not running: `mandat db start`")
    _prepare()
    if not _archiving_on():
        _turn_archiving_on()
    _pgbackrest("stanza-create")
    _pgbackrest("check")
    _pgbackrest("backup", f"--type={kind}")
    info = _pgbackrest("info", "--output=json")
    import json

    return str(json.loads(info)[0]["backup"][-1]["label"])


def restore(to: datetime, port: int, into: Path | None = None) -> tuple[Path, str]:
    """A new cluster in `into` (default .mandat/pgdata-restored-<time>) as the database was at
    `to` (every transaction committed before it, none after), started on `port` with archiving
    off; returns its directory and URL."""
    if to.tzinfo is None:
        raise BackupError("give the time with its offset, e.g. 2026-12-02T11:30:00+01:00")
    _prepare()
    target = into or STATE_DIR / f"pgdata-restored-{to.strftime('%Y%m%dT%H%M%S')}"
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty")
    target.mkdir(mode=0o700, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(target, cluster.USER, cluster.USER)
    _pgbackrest(
        "restore", f"--pg1-path={target}", "--type=time", f"--target={to.isoformat(sep=' ')}",
        "--target-action=promote", "--archive-mode=off",
    )  # fmt: skip
    options = f"-p {port} -k {cluster.SOCKETS} -c listen_addresses=127.0.0.1"
    log = target / "restore.log"
    start = [cluster.bin_path("pg_ctl"), "start", "-w", "-t", "300", "-D", str(target)]
    started = subprocess.run(
        cluster.as_server_user([*start, "-l", str(log), "-o", options]),
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        raise BackupError(f"the restored cluster did not start: {started.stderr.strip()}")
    url = cluster.url().replace(f":{cluster.PORT}/", f":{port}/")
    _wait_promoted(url)
    return target, url


def _wait_promoted(url: str, timeout: float = 300) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row == (False,):
                    return
        except psycopg.OperationalError:
            pass
        time.sleep(0.5)
    raise BackupError("the restored cluster is still recovering")
