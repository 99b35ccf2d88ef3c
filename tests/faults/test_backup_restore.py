"""`mandat db backup` and `mandat db restore --to TIME` with pgBackRest, on a cluster of the
test's own (its own state directory and port): the restored database holds exactly the
purchases committed before TIME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.faults.pair import SERVER_USER, _three_free_ports
from tests.processes import ROOT

pytestmark = [pytest.mark.fault, pytest.mark.slow]


class LocalCluster:
    """The project-local cluster as `mandat db …` makes it, in a temporary state directory."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="mandat-backup-", dir="/tmp"))
        self.home.chmod(0o755)
        self.port, self.restored_port, _ = _three_free_ports()
        self.restored = self.home / "restored"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key
            not in (
                "DATABASE_URL",
                "MANDAT_DIRECT_DATABASE_URL",
                "MANDAT_OWNER_DATABASE_URL",
                "MANDAT_TEST_POOLER",
            )
        }
        self.env.update(MANDAT_STATE_DIR=str(self.home), MANDAT_DB_PORT=str(self.port))

    def mandat(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "mandat.cli", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert done.returncode == 0, f"mandat {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    def url(self, port: int | None = None) -> str:
        password = (self.home / "db-password").read_text().strip()
        return f"postgresql://postgres:{password}@127.0.0.1:{port or self.port}/mandat"

    def stop(self) -> None:
        restored = self.restored
        if (restored / "postmaster.pid").exists():
            pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
            command = [str(pg_ctl), "stop", "-m", "fast", "-D", str(restored)]
            if os.geteuid() == 0:
                command = ["runuser", "-u", SERVER_USER, "--", *command]
            subprocess.run(command, capture_output=True, check=False)
        subprocess.run(
            [sys.executable, "-m", "mandat.cli", "db", "stop"],
            cwd=ROOT, env=self.env, capture_output=True, check=False,
        )  # fmt: skip
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture
def local_cluster() -> Iterator[LocalCluster]:
    made = LocalCluster()
    try:
        made.mandat("db", "start")
        made.mandat("migrate")
        made.mandat("geodata", "load")
        yield made
    finally:
        made.stop()


def purchases(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {str(row[0]) for row in conn.execute("SELECT id FROM purchase")}


def buy(client, buyer, lead) -> str:  # type: ignore[no-untyped-def]
    price = client.get(f"/api/v1/leads/{lead}", headers=buyer.headers).json()["price_cents"]
    answer = client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=buyer.headers,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["purchase_id"])


def test_a_restore_to_a_time_holds_exactly_the_purchases_committed_before_it(
    local_cluster: LocalCluster,
) -> None:
    from litestar.testing import TestClient

    from api.app import create_app
    from engine.db import unit_of_work
    from tests.conftest import reset_database
    from tests.market import buyers, offered_lead

    url = local_cluster.url()
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        # The first backup turns archiving on: the cluster restarts once, before any traffic.
        assert "backup" in local_cluster.mandat("db", "backup")
        reset_database(url)
        with unit_of_work() as session:
            agencies = buyers(session, 2)
            leads = [offered_lead(session) for _ in range(4)]

        with TestClient(create_app(), raise_server_exceptions=False) as client:
            before = {buy(client, agencies[0], leads[0]), buy(client, agencies[1], leads[1])}
            with psycopg.connect(url, autocommit=True) as conn:
                row = conn.execute("SELECT clock_timestamp()").fetchone()
            assert row is not None
            moment = row[0]
            time.sleep(1.1)
            after = {buy(client, agencies[0], leads[2]), buy(client, agencies[1], leads[3])}
        archive_everything(url)
    finally:
        if saved is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved

    assert purchases(url) == before | after
    out = local_cluster.mandat(
        "db", "restore", "--to", moment.isoformat(), "--port", str(local_cluster.restored_port),
        "--into", str(local_cluster.restored),
    )  # fmt: skip
    assert "restored into" in out
    restored = purchases(local_cluster.url(local_cluster.restored_port))
    assert restored == before
    assert purchases(url) == before | after, "the running cluster is left as it was"


def archive_everything(url: str) -> None:
    """Closes the current WAL segment and waits until the archive holds it (the restore needs a
    commit after TIME to know where to stop)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            archived = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
            if archived and archived[0] and archived[0] >= row[0]:
                return
            time.sleep(0.2)
    raise AssertionError("the WAL was not archived within 60 s")
