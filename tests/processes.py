"""Mandat's own processes for the tests that need them: `mandat serve` and `mandat scheduler`
as real subprocesses on the test database, and a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a Mandat process on the test database. Loopback is the trusted
    proxy: tests speak for many clients through X-Forwarded-For."""
    return {
        **os.environ,
        "DATABASE_URL": database_url.replace("+psycopg", ""),
        "MANDAT_TRUSTED_PROXIES": "127.0.0.1",
        **extra,
    }


@contextmanager
def served(env: dict[str, str], name: str, workers: int = 2) -> Iterator[str]:
    """`mandat serve` on a free loopback port until the block ends; yields its base URL. Its
    log goes to test-artifacts/<name>.log (a pipe nobody reads would block the server)."""
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"{name}.log"
    command = [sys.executable, "-m", "mandat.cli", "serve", "--port", str(port)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90  # a busy machine imports slowly
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


class Scheduler:
    """`mandat scheduler` in its own process, its output read line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mandat.cli", "scheduler"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def running(self, within_s: float) -> bool:
        """Holds the lock and runs its jobs (within `within_s`)."""
        deadline = time.monotonic() + within_s
        while True:
            if any("scheduler running" in line for line in self.lines):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s: never left running against the test database."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Mailbox:
    """What an SMTP relay received (aiosmtpd handler)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@contextmanager
def smtp_relay() -> Iterator[tuple[Mailbox, str]]:
    """A real SMTP server on loopback: (its mailbox, its SMTP_URL)."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, f"smtp://127.0.0.1:{controller.port}"
    finally:
        controller.stop()
