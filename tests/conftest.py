"""Test harness: a real PostGIS database, migrated by Alembic, with every French commune loaded.

The test database is `<name>_test` next to the database in use (the project-local cluster, or
DATABASE_URL), or MANDAT_TEST_DB when set (two runs side by side). It is created afresh for each
run; tests that write start from empty business tables (`clean_db`), the reference geography
stays. With MANDAT_TEST_POOLER=1 the tests reach it through PgBouncer (transaction pooling).

As in production, the schema's owner (the server's superuser) migrates it and loads the
communes, and everything else — the tests' own sessions, the in-process application, the servers
and schedulers they start — connects as `mandat_app` (rows only, migration 0032); what only the
owner may do (emptying the tables, lifting a trigger) goes through `owner_database_url`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BUSINESS_TABLES = (
    "refund_request",
    "stripe_event",
    "dunning",
    "payment_attempt",
    "document_line",
    "credit_note",
    "invoice",
    "billing_run",
    "number_series",
    "outbox",
    "audit_log",
    "idempotency_key",
    "ledger_line",
    "purchase",
    "offer",
    "agency_commune",
    "api_key",
    "agency",
    "comparable_sale",
    "estimation",
    "lead",
    "lead_consent",
    "person_token",
    "person_totp",
    "person_recovery_code",
    "person_passkey",
    "webauthn_challenge",
    "web_session",
    "agency_user",
    "rate_bucket",
    "partner",
    "ban_address",
    "ban_street",
)


_OWNER_URL: list[str] = []  # the test database as its owner, once `database_url` made it


def _server_urls() -> tuple[str, str]:
    """(maintenance URL, test database URL as its owner) in plain libpq form."""
    from mandat import cluster

    base = os.environ.get("DATABASE_URL") or cluster.url()
    url = make_url(base.replace("postgresql+psycopg://", "postgresql://"))
    test = url.set(database=os.environ.get("MANDAT_TEST_DB", f"{url.database}_test"))
    if test.database == url.database:
        raise RuntimeError("the test database must not be the database in use: it is dropped")
    admin = url.set(database="postgres")
    as_text = lambda u: u.render_as_string(hide_password=False)  # noqa: E731
    return as_text(admin), as_text(test)


def pytest_configure(config: pytest.Config) -> None:
    """Stripe goes to the tests' localstripe (started on first use), in this process and in
    every server or scheduler the tests start; all of them sign with this run's secret key."""
    import base64
    import secrets

    os.environ["MANDAT_SECRET_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    os.environ.pop("MANDAT_PREVIOUS_SECRET_KEYS", None)
    os.environ["STRIPE_API_KEY"] = "sk_test_mandat_tests"
    from tests.processes import free_port

    os.environ["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"
    os.environ["STRIPE_WEBHOOK_SECRET"] = "whsec_mandat_tests"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        layer = Path(str(item.fspath)).relative_to(ROOT / "tests").parts[0]
        if layer in ("unit", "integration", "e2e", "browser"):
            item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture(scope="session")
def database_url() -> str:
    admin, test = _server_urls()
    name = make_url(test).database
    if not name or (not name.endswith("_test") and "MANDAT_TEST_DB" not in os.environ):
        raise RuntimeError(f"refusing to use {name!r} as the test database (it is dropped)")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    from engine.config import sqlalchemy_url
    from engine.db import unit_of_work
    from engine.geo.load import load_communes
    from engine.migrate import upgrade
    from mandat import cluster

    owner = sqlalchemy_url(test)
    upgrade(owner)
    with unit_of_work(owner) as session:
        load_communes(session)
    password = make_url(test).password
    cluster.create_app_login(admin, str(password) if password else None)
    app = make_url(test).set(username=cluster.APP_USER).render_as_string(hide_password=False)
    os.environ.update(DATABASE_URL=app, MANDAT_OWNER_DATABASE_URL=test)
    _OWNER_URL.append(owner)
    if os.environ.get("MANDAT_TEST_POOLER") == "1":
        return _through_pooler(app)
    return sqlalchemy_url(app)


@pytest.fixture(scope="session")
def owner_database_url(database_url: str) -> str:
    """The test database as its owner: for what `mandat_app` may not do (DDL, TRUNCATE)."""
    return _OWNER_URL[0]


def _through_pooler(direct: str) -> str:
    """MANDAT_TEST_POOLER=1 (`make test` runs the e2e suite so): this process and every server
    it starts reach the test database through the project-local PgBouncer in transaction mode,
    as in production; the scheduler's lock and migrations connect directly."""
    from engine.config import sqlalchemy_url
    from mandat import pooler

    pooler.start()
    pooled = make_url(direct).set(port=pooler.PORT).render_as_string(hide_password=False)
    os.environ.update(DATABASE_URL=pooled, MANDAT_DIRECT_DATABASE_URL=direct, MANDAT_DB_PREPARE="0")
    return sqlalchemy_url(pooled)


@pytest.fixture
def clean_db(database_url: str, owner_database_url: str) -> str:
    reset_database(owner_database_url)
    return database_url


def reset_database(database_url: str) -> None:
    """Empty business tables, the default settings and price grid, in one connection (as the
    tables' owner: `mandat_app` may not TRUNCATE)."""
    import json

    from engine.pricing.grid import PriceGrid
    from engine.settings import DEFAULTS

    plain = database_url.replace("+psycopg", "")
    # Nothing prepared on the server: behind PgBouncer the next client would inherit it.
    with psycopg.connect(plain, autocommit=True, prepare_threshold=None) as conn:
        conn.execute(f"TRUNCATE {', '.join(BUSINESS_TABLES)}, price_grid RESTART IDENTITY CASCADE")
        conn.execute(
            "INSERT INTO price_grid (rules) VALUES (%s)", (json.dumps(PriceGrid().to_json()),)
        )
        conn.execute("DELETE FROM setting")
        for key, value in DEFAULTS.items():
            conn.execute(
                "INSERT INTO setting (key, value) VALUES (%s, %s)", (key, json.dumps(value))
            )


@pytest.fixture
def session(clean_db: str):  # type: ignore[no-untyped-def]
    """A session whose work is committed, like a request's."""
    from engine.db import unit_of_work

    with unit_of_work() as s:
        yield s


@pytest.fixture
def client(clean_db: str):  # type: ignore[no-untyped-def]
    """The application over Litestar's test client (the real ASGI app, routes and database)."""
    from litestar.testing import TestClient

    from api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on loopback; SMTP_URL points at it."""
    from tests.processes import smtp_relay

    with smtp_relay() as (box, url):
        monkeypatch.setenv("SMTP_URL", url)
        yield box


@pytest.fixture
def admin_headers(clean_db: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_key('admin')}"}


def issue_key(role: str, agency_id: object = None) -> str:
    from engine.accounts.keys import create_key
    from engine.db import unit_of_work

    with unit_of_work() as s:
        return create_key(s, role=role, agency_id=agency_id).key  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[str]:
    """`mandat serve` in its own process on a free loopback port: real HTTP, real workers."""
    from tests.processes import ARTIFACTS, process_env, served

    env = process_env(database_url, MANDAT_ACCESS_LOG_DIR=str(ARTIFACTS / "access-logs"))
    with served(env, "live-server") as base:
        yield base


@pytest.fixture(scope="session")
def localstripe_server() -> Iterator[str]:
    """localstripe on the port STRIPE_API_BASE names, for the whole session."""
    import subprocess
    import sys
    import time

    import httpx

    base = os.environ["STRIPE_API_BASE"]
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    log = (ROOT / "test-artifacts" / "localstripe.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "localstripe_server.py"), base.rsplit(":", 1)[1]],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.delete(f"{base}/_config/data", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("localstripe did not start")
    yield base
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture
def stripe_fake(localstripe_server: str) -> str:
    """An empty localstripe for this test."""
    import httpx

    httpx.delete(f"{localstripe_server}/_config/data", timeout=10).raise_for_status()
    return localstripe_server
