"""A real pg_auto_failover formation on loopback for the fault tests: a monitor, a primary and a
synchronous standby (Debian's postgresql-15-auto-failover and pg-auto-failover-cli), in a
temporary directory, run as the `postgres` user when the tests run as root (PostgreSQL refuses
root). Ports come from 29400–29499: below the kernel's ephemeral range (32768–60999), so no
outgoing connection of an earlier test (PgBouncer's server connections, a pool) can hold one as
its local port, and away from the project-local cluster."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PORTS = range(29400, 29500)
SERVER_USER = "postgres"


def _free(port: int) -> bool:
    """Nothing listens on the port and PostgreSQL could bind it: a connect probe alone misses a
    socket that holds the port without listening."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - a probe, closed at once; the nodes listen on *
        except OSError:
            return False
    return True


def _three_free_ports() -> tuple[int, int, int]:
    for first in PORTS[:-2]:
        if all(_free(p) for p in (first, first + 1, first + 2)):
            return first, first + 1, first + 2
    raise RuntimeError("no three free ports in 29400-29499")


def _pg_bin() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return str(found[-1].parent)


def _first_errors(log: str) -> str:
    """The log's first lines that say what went wrong (the cause), then its last lines."""
    lines = log.splitlines()
    errors = [line for line in lines if any(w in line for w in ("ERROR", "FATAL", "could not"))]
    return "\n".join([*errors[:8], "...", *lines[-6:]])


class FailoverPair:
    """`start()` forms the group (about 35-45 s); `url` is libpq's multi-host URL of it."""

    def __init__(self, dbname: str = "mandat") -> None:
        self.dbname = dbname
        self.home = Path(tempfile.mkdtemp(prefix="mandat-failover-", dir="/tmp"))
        self.home.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.home, SERVER_USER, SERVER_USER)
        self.monitor_port, *self.node_ports = _three_free_ports()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            "PATH": f"{_pg_bin()}:/usr/sbin:/usr/bin:/sbin:/bin",
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "XDG_DATA_HOME": str(self.home / "share"),
            "XDG_RUNTIME_DIR": str(self.home / "run"),
            "PGHOST": "127.0.0.1",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(self.home),
        }

    @property
    def monitor_url(self) -> str:
        return f"postgres://autoctl_node@127.0.0.1:{self.monitor_port}/pg_auto_failover?sslmode=disable"

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.node_ports)
        return f"postgresql://postgres@{hosts}/{self.dbname}?target_session_attrs=read-write"

    def _command(self, *args: str) -> list[str]:
        command = ["pg_autoctl", *args]
        if os.geteuid() == 0:
            return ["runuser", "-u", SERVER_USER, "--", *command]
        return command

    def _run(self, name: str, *args: str) -> None:
        log = (self.home / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                self._command(*args), env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        )

    def ctl(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            self._command(*args), env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_autoctl {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def start(self) -> None:
        common = ["--auth", "trust", "--no-ssl", "--hostname", "127.0.0.1", "--run"]
        self._run(
            "monitor", "create", "monitor", "--pgdata", str(self.home / "monitor"),
            "--pgport", str(self.monitor_port), *common,
        )  # fmt: skip
        self._wait(lambda: not _free(self.monitor_port), "the monitor", 60)
        time.sleep(1)
        for n, port in enumerate(self.node_ports, start=1):
            self._run(
                f"node{n}", "create", "postgres", "--pgdata", str(self.home / f"node{n}"),
                "--pgport", str(port), "--name", f"node{n}", "--dbname", self.dbname,
                "--monitor", self.monitor_url, *common,
            )  # fmt: skip
            if n == 1:
                self._wait(lambda: self._states(1) <= {"single"}, "node1", 120)
        # The standby's pg_basebackup waits for the primary's next checkpoint (it does not ask
        # for a fast one): up to checkpoint_timeout, five minutes. Ask for it now.
        self._wait(self._standby_copied, "node2's base backup", 120)
        self.wait_in_sync(120)

    def _standby_copied(self) -> bool:
        if not _free(self.node_ports[1]):
            return True
        with contextlib.suppress(psycopg.Error):
            self.sql(self.node_ports[0], "CHECKPOINT")
        time.sleep(1)
        return False

    def sql(self, port: int, query: str) -> list[tuple[object, ...]]:
        """One statement on one node (trust on loopback), autocommit."""
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=5"
        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(query.encode())
            return cursor.fetchall() if cursor.description else []

    def in_sync(self) -> bool:
        """The formation is stable and every commit waits for the standby: the monitor has both
        nodes where it wants them (primary, secondary), the primary names the standby in
        synchronous_standby_names, and the standby streams as a quorum member."""
        try:
            states = self.state()
            stable = len(states) == 2 and sorted(
                (str(s["current_group_state"]), str(s["assigned_group_state"])) for s in states
            ) == [("primary", "primary"), ("secondary", "secondary")]
            port = self.primary_port()
            if not stable or port is None:
                return False
            rows = self.sql(
                port,
                "SELECT current_setting('synchronous_standby_names'),"
                " (SELECT array_agg(sync_state) FROM pg_stat_replication"
                "  WHERE state = 'streaming')",
            )
        except (RuntimeError, ValueError, subprocess.TimeoutExpired, psycopg.Error):
            return False
        names, sync_states = rows[0]
        streaming = {str(s) for s in sync_states or ()}  # type: ignore[attr-defined]
        return bool(names) and bool(streaming) and streaming <= {"quorum", "sync"}

    def wait_in_sync(self, timeout: float = 120) -> None:
        self._wait(self.in_sync, "the formation in sync (primary, synchronous secondary)", timeout)

    def events(self) -> list[dict[str, object]]:
        """The monitor's events, oldest first: what it decided and why, and when."""
        out = self.ctl(
            "show", "events", "--count", "500", "--json", "--pgdata", str(self.home / "monitor")
        )
        return list(json.loads(out))

    def failovers(self) -> set[str]:
        """Each failover the monitor started (asked for or after a node became unhealthy)."""
        return {
            str(e["description"])
            for e in self.events()
            if "to prepare_promotion after" in str(e.get("description"))
        }

    def keep_logs(self, into: Path) -> None:
        """The monitor's events and each node's log, for a run that went wrong."""
        into.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(RuntimeError, ValueError, subprocess.TimeoutExpired):
            lines = [f"{e.get('eventtime')} {e.get('description')}" for e in self.events()]
            (into / "events.txt").write_text("\n".join(lines) + "\n")
        for log in self.home.glob("*.log"):
            shutil.copy(log, into / log.name)

    def _states(self, nodes: int) -> set[str]:
        try:
            states = self.state()
        except (RuntimeError, ValueError, subprocess.TimeoutExpired):
            return {"unknown"}
        if len(states) < nodes:
            return {"unknown"}
        return {str(s[k]) for s in states for k in ("current_group_state", "assigned_group_state")}

    def state(self) -> list[dict[str, object]]:
        out = self.ctl("show", "state", "--json", "--pgdata", str(self.home / "monitor"))
        return list(json.loads(out))

    def primary_port(self) -> int | None:
        for node in self.state():
            if node["current_group_state"] == "primary" == node["assigned_group_state"]:
                return int(str(node["nodeport"]))
        return None

    def failover(self) -> None:
        """`pg_autoctl perform failover`: returns once the standby is the new primary."""
        self.ctl("perform", "failover", "--pgdata", str(self.home / "monitor"), timeout=120)

    def _wait(self, ready: object, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():  # type: ignore[operator]
            if time.monotonic() > deadline:
                logs = {p.name: _first_errors(p.read_text()) for p in self.home.glob("*.log")}
                raise RuntimeError(f"{what} not ready in {timeout} s: {logs}")
            time.sleep(0.5)

    def stop(self) -> None:
        for name in ("node2", "node1", "monitor"):
            if (self.home / name).exists():
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self.ctl("stop", "--pgdata", str(self.home / name), timeout=30)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.home, ignore_errors=True)
