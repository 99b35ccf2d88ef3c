"""A database failover under concurrent purchases, on a real pg_auto_failover pair (a primary and
a synchronous standby): Mandat reaches the new primary by itself, answers the purchases cut by
the switch with 503 `try_again`, and clients that retry with the same Idempotency-Key, as the
README tells integrators to, get every purchase exactly once."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from tests.faults.pair import FailoverPair
from tests.processes import ARTIFACTS, Scheduler, process_env, served

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.failover]

LEADS = 20
BUYERS = 6
CLIENTS = 8


@pytest.fixture(scope="module")
def pair() -> Iterator[FailoverPair]:
    formation = FailoverPair()
    try:
        formation.start()
        yield formation
    finally:
        formation.keep_logs(ARTIFACTS / "failover-pair")
        formation.stop()


@pytest.fixture(scope="module")
def pair_database(pair: FailoverPair) -> Iterator[str]:
    """Mandat's schema and reference data on the pair; this process's DATABASE_URL names it
    (multi-host) while the module runs."""
    from engine.config import sqlalchemy_url
    from engine.db import unit_of_work
    from engine.geo.load import load_communes
    from engine.migrate import upgrade
    from tests.conftest import reset_database

    names = ("DATABASE_URL", "MANDAT_DIRECT_DATABASE_URL", "MANDAT_OWNER_DATABASE_URL")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(DATABASE_URL=pair.url, MANDAT_OWNER_DATABASE_URL=pair.url)
    os.environ.pop("MANDAT_DIRECT_DATABASE_URL", None)
    try:
        upgrade(sqlalchemy_url(pair.url))
        with unit_of_work() as session:
            load_communes(session)
        reset_database(pair.url)
        yield pair.url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Attempt:
    buyer: Any
    lead: uuid.UUID
    body: dict[str, Any]
    key: str = field(default_factory=lambda: f"failover-{uuid.uuid4()}")
    statuses: list[int | str] = field(default_factory=list)
    final: httpx.Response | None = None


def market(count_leads: int) -> list[Attempt]:
    """Agencies around Rennes and shared leads consented to several of them: one attempt per
    (agency, lead) with its own key."""
    from engine.db import unit_of_work
    from tests.market import buyers, end_exclusive_window, offered_lead

    with unit_of_work() as session:
        agencies = buyers(session, BUYERS)
        by_id = {a.agency_id: a for a in agencies}
        attempts = []
        for _ in range(count_leads):
            lead = offered_lead(session)
            end_exclusive_window(session, lead)
            price = session.execute(
                text("SELECT shared_price_cents FROM offer WHERE lead_id = :l"), {"l": lead}
            ).scalar_one()
            consented = session.execute(
                text("SELECT agency_id FROM lead_consent WHERE lead_id = :l"), {"l": lead}
            ).scalars()
            body = {"mode": "shared", "price_cents": price}
            attempts += [Attempt(by_id[a], lead, body) for a in consented if a in by_id]
    return attempts


def buy(base: str, attempt: Attempt, failures: list[float], give_up_at: float) -> None:
    """A client as the README describes: a 503 or a cut connection is sent again, same key."""
    headers = {**attempt.buyer.headers, "Idempotency-Key": attempt.key}
    while time.monotonic() < give_up_at:
        try:
            answer = httpx.post(
                f"{base}/api/v1/leads/{attempt.lead}/purchase",
                json=attempt.body,
                headers=headers,
                timeout=30,
            )
        except httpx.TransportError as error:
            attempt.statuses.append(type(error).__name__)
            failures.append(time.monotonic())
            time.sleep(0.2)
            continue
        attempt.statuses.append(answer.status_code)
        if answer.status_code == 503:
            failures.append(time.monotonic())
            assert answer.json()["code"] == "try_again"
            assert answer.headers["Retry-After"].isdigit()
            time.sleep(min(float(answer.headers["Retry-After"]), 0.5))
            continue
        attempt.final = answer
        return


def test_lagging_reads_go_to_the_standby_and_fall_back_to_the_primary(
    pair: FailoverPair, pair_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MANDAT_REPLICA_URL (issue 17 item 3): the catalogue and an offer are read on the hot
    standby while it is within MANDAT_REPLICA_MAX_LAG_S, on the primary once it lags more, and
    on the primary when the standby cannot be reached. The standby's replay is paused to make
    it lag, then resumed before the failover test."""
    from engine.accounts.authentication import authenticate
    from engine.db import unit_of_work
    from engine.errors import NotFound
    from engine.replica import forget_health
    from engine.sales.catalogue import CatalogueQuery
    from engine.sales.flows import browse_catalogue, read_offer
    from tests.conftest import reset_database
    from tests.market import buyers, offered_lead
    from tests.processes import free_port

    primary = pair.primary_port()
    standby = next(port for port in pair.node_ports if port != primary)
    monkeypatch.setenv(
        "MANDAT_REPLICA_URL", f"postgresql://postgres@127.0.0.1:{standby}/{pair.dbname}"
    )
    monkeypatch.setenv("MANDAT_REPLICA_MAX_LAG_S", "60")
    forget_health()

    def on_standby(lead: uuid.UUID) -> bool:
        url = f"postgresql://postgres@127.0.0.1:{standby}/{pair.dbname}"
        with psycopg.connect(url, autocommit=True) as conn:
            return (
                conn.execute("SELECT 1 FROM offer WHERE lead_id = %s", (lead,)).fetchone()
                is not None
            )

    def shown() -> set[uuid.UUID]:
        return {offer.id for offer in browse_catalogue(caller, CatalogueQuery()).items}

    try:
        with unit_of_work() as session:
            (agency,) = buyers(session, 1)
            first = offered_lead(session)
            caller = authenticate(session, agency.key)
        assert wait_for(lambda: on_standby(first), 30), "the standby never replayed the lead"
        pair.sql(standby, "SELECT pg_wal_replay_pause()")
        with unit_of_work() as session:
            second = offered_lead(session)

        assert shown() == {first}, "read on the standby, which has not replayed the second lead"
        with pytest.raises(NotFound):
            read_offer(caller, second)

        monkeypatch.setenv("MANDAT_REPLICA_MAX_LAG_S", "0.5")
        forget_health()
        time.sleep(1)
        assert shown() == {first, second}, "a standby lagging more than allowed is not read"
        assert read_offer(caller, second).id == second

        pair.sql(standby, "SELECT pg_wal_replay_resume()")
        monkeypatch.setenv("MANDAT_REPLICA_MAX_LAG_S", "60")
        monkeypatch.setenv("MANDAT_REPLICA_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/x")
        forget_health()
        assert shown() == {first, second}, "an unreachable standby: the primary answers"
    finally:
        pair.sql(standby, "SELECT pg_wal_replay_resume()")
        forget_health()
        reset_database(pair_database)


def test_a_failover_under_concurrent_purchases_loses_and_doubles_nothing(
    pair: FailoverPair, pair_database: str
) -> None:
    began = time.monotonic()
    attempts = market(LEADS)
    market_s = time.monotonic() - began
    env = process_env(pair_database, MANDAT_DB_PREPARE="0")
    scheduler = Scheduler(env)
    try:
        with served(env, "failover-server", workers=2) as base:
            assert scheduler.running(within_s=120), "".join(scheduler.lines)
            before = pair.primary_port()
            failures: list[float] = []
            queue = list(attempts)
            lock = threading.Lock()
            give_up_at = time.monotonic() + 120

            def client() -> None:
                while True:
                    with lock:
                        if not queue:
                            return
                        attempt = queue.pop()
                    buy(base, attempt, failures, give_up_at)
                    time.sleep(0.1)

            threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
            for thread in threads:
                thread.start()
            time.sleep(2)
            # Only from a formation in sync: every purchase answered so far is on the standby.
            pair.wait_in_sync(60)
            switch_started = time.monotonic()
            pair.failover()
            switched_in = time.monotonic() - switch_started
            for thread in threads:
                thread.join()
            traffic_s = time.monotonic() - switch_started + 2
            # The old primary is back as a synchronous standby before anything is checked: the
            # checks below read one stable primary.
            pair.wait_in_sync(120)
            after = pair.primary_port()
            lock_again = wait_for(lambda: held_again(scheduler), 30)
            with psycopg.connect(pair_database, autocommit=True) as conn:
                scheduler_lock = conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND objid = 726400001"
                ).fetchone()

            replays = [
                httpx.post(
                    f"{base}/api/v1/leads/{a.lead}/purchase",
                    json=a.body,
                    headers={**a.buyer.headers, "Idempotency-Key": a.key},
                    timeout=30,
                )
                for a in attempts
                if a.final is not None and a.final.status_code == 201
            ]
            still = pair.primary_port()
            switches = pair.failovers()
    finally:
        scheduler.stop()

    assert before is not None, "no primary before"
    assert after not in (None, before), (before, after)
    assert still == after, "the primary did not change again while the replays ran"
    assert len(switches) == 1, f"one failover, the one asked for: {switches}"
    seen = [s for a in attempts for s in a.statuses]
    assert 500 not in seen
    assert all(s in (201, 409, 503) for s in seen if isinstance(s, int)), seen
    assert all(a.final is not None for a in attempts), "a client gave up"
    answered = {a.final.json()["purchase_id"] for a in attempts if a.final.status_code == 201}  # type: ignore[union-attr]
    assert answered, "no purchase went through"
    assert {a.final.json()["code"] for a in attempts if a.final.status_code == 409} <= {  # type: ignore[union-attr]
        "lead_unavailable", "already_purchased", "sold_out", "mode_unavailable",
    }  # fmt: skip
    originals = [a.final.json() for a in attempts if a.final.status_code == 201]  # type: ignore[union-attr]
    with psycopg.connect(pair_database, autocommit=True) as conn:
        rows = [str(r[0]) for r in conn.execute("SELECT id FROM purchase").fetchall()]
    differ = [
        (o["purchase_id"], o["purchase_id"] in rows, r.status_code, r.text[:120])
        for o, r in zip(originals, replays, strict=True)
        if r.status_code != 201 or r.json() != o
    ]
    assert not differ, f"replays that differ (id, in the database, answer): {differ}"

    with psycopg.connect(pair_database, autocommit=True) as conn:
        ledger = conn.execute("SELECT count(*) FROM ledger_line").fetchone()
        counters = conn.execute(
            "SELECT count(*) FROM offer o WHERE o.shared_buyers <>"
            " (SELECT count(*) FROM purchase p WHERE p.lead_id = o.lead_id)"
        ).fetchone()
    assert sorted(rows) == sorted(answered), "every purchase row was answered 201, once"
    assert ledger == (len(rows),)
    assert counters == (0,)
    assert lock_again, "".join(scheduler.lines[-20:])
    assert scheduler_lock == (1,), "the scheduler holds its lock on the new primary"

    cut = [s for a in attempts for s in a.statuses if s != 201 and s != 409]
    rto = (max(failures) - min(failures)) if failures else 0.0
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "failover.json").write_text(
        json.dumps(
            {
                "purchases_answered_201": len(answered),
                "attempts": len(attempts),
                "answers_503_or_cut": len(cut),
                "seconds_with_failed_requests": round(rto, 2),
                "pg_autoctl_perform_failover_s": round(switched_in, 2),
                "traffic_s": round(traffic_s, 1),
                "market_setup_s": round(market_s, 1),
            },
            indent=2,
        )
    )


def held_again(scheduler: Scheduler) -> bool:
    return any("scheduler lock held again" in line for line in scheduler.lines)


def wait_for(condition: Any, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
