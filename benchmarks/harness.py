"""What the HTTP benchmarks share: their own database on the server in use, a `mandat serve`
subprocess started and stopped cleanly, free ports and process trees."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine import cluster
from engine.config import sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent


def bench_urls(database: str) -> tuple[str, str]:
    """(maintenance URL, benchmark URL) on the server of DATABASE_URL or the local cluster."""
    base = make_url(sqlalchemy_url(os.environ.get("DATABASE_URL") or cluster.url()))
    admin, bench = base.set(database="postgres"), base.set(database=database)
    return admin.render_as_string(False), bench.render_as_string(False)


def plain(url: str) -> str:
    """The libpq form (`postgresql://`) that DATABASE_URL documents."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def autocommit(url: str, sql: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE, VACUUM, COMMENT)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc (Linux)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return found


@contextmanager
def server(
    database_url: str, workers: int, log_path: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`mandat serve` in its own process group; terminated (with its workers) on the way out."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "engine.cli", "serve", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers end with it
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, process, log_path)
            yield base, process
        finally:
            stop(process)


def wait_ready(
    base: str, process: subprocess.Popen[bytes], log_path: Path, seconds: float = 60
) -> None:
    deadline, last = time.monotonic() + seconds, "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            ready = httpx.get(f"{base}/readyz", timeout=1)
            if ready.status_code == 200:
                return
            last = f"{ready.status_code} {ready.text}"
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    tail = log_path.read_text(errors="replace")[-1500:]
    raise RuntimeError(f"the server did not become ready ({last}):\n{tail}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + wait_s  # the main process is gone; its workers may linger
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
