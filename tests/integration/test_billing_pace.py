"""The billing run at scale's rules (issue 16): documents written many per statement with a
gap-free series, payments concurrent but within the configured pace of Stripe calls, a 429
retried, no invoice charged twice after a crash.

Stripe is localstripe (started by the test harness) behind `tests/stripe_proxy.py`: localstripe
cannot answer 429 and ignores idempotency keys, so the proxy injects the 429s and keeps Stripe's
idempotency (a key seen again gets the first answer, not a second charge), and adds a real
charge's latency where concurrency is measured.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

import engine.billing.payments as payments
import engine.billing.run as billing_run
from engine.billing import stripe_gateway as gateway
from engine.billing.documents import bill_agency, credit_now
from engine.billing.issuing import issue_documents
from engine.billing.ledger import add_refund_line
from engine.billing.run import run_billing
from engine.billing.views import document
from engine.db import unit_of_work
from engine.settings import read_settings
from tests.integration.test_billing import buy, invoices, save_card, this_month
from tests.market import buyers
from tests.stripe_proxy import stripe_proxy

pytestmark = pytest.mark.usefixtures("stripe_fake")


def agencies_with_cards(client, session, count: int, purchases: int = 1) -> list[Any]:  # type: ignore[no-untyped-def]
    # A lead names at most `max_named_agencies` (10): each of these agencies must be named.
    session.execute(text("UPDATE setting SET value = '30' WHERE key = 'max_named_agencies'"))
    found = buyers(session, count, role="owner")
    for agency in found:
        assert save_card(client, agency, "pm_card_visa").status_code == 200
        buy(client, session, agency, purchases)
    return found


def intents_per_invoice(stripe_fake: str) -> Counter[str]:
    """The PaymentIntents localstripe holds, counted per invoice (their metadata)."""
    answer = httpx.get(
        f"{stripe_fake}/v1/payment_intents",
        params={"limit": 100},
        auth=("sk_test_mandat_tests", ""),
        timeout=10,
    )
    answer.raise_for_status()
    return Counter(pi["metadata"]["invoice_id"] for pi in answer.json()["data"])


def collect_in(monkeypatch, processes: int) -> None:  # type: ignore[no-untyped-def]
    """Payments collected in `processes` processes however short the run (one: in the run's)."""
    monkeypatch.setenv("MANDAT_BILLING_PAYMENT_PROCESSES", str(processes))
    monkeypatch.setattr(payments, "PROCESSES_FROM", 0 if processes > 1 else 10**9)


def numbers(session, table: str) -> list[int]:  # type: ignore[no-untyped-def]
    found = session.execute(text(f"SELECT number FROM {table} ORDER BY number")).scalars()
    return [int(n[-6:]) for n in found]


def test_many_invoices_per_statement_are_the_records_one_agency_at_a_time_would_be(
    client, session
) -> None:
    agencies = agencies_with_cards(client, session, 3, purchases=2)
    refunded = session.execute(
        text("SELECT id, price_cents FROM purchase WHERE agency_id = :a ORDER BY created_at"),
        {"a": agencies[1].agency_id},
    ).first()
    add_refund_line(session, refunded.id, refunded.price_cents // 2)  # a negative line
    session.commit()
    period, after = this_month()
    ids = sorted(a.agency_id for a in agencies)
    settings = read_settings(session)

    def records() -> list[dict[str, Any]]:
        rows = session.execute(text("SELECT id FROM invoice ORDER BY number")).scalars().all()
        found = [document(session, "invoice", row, None) for row in rows]
        session.rollback()  # the numbers go back too: both ways start from 1
        return [{k: v for k, v in asdict(doc).items() if k != "id"} for doc in found]

    issued = issue_documents(session, ids, period.date(), after, None, settings)
    together = records()
    for agency in ids:
        bill_agency(session, agency, period.date(), after, None, settings)
    one_by_one = records()

    assert (len(issued.invoice_ids), issued.credit_notes) == (3, 0)
    assert together == one_by_one
    assert [doc["agency_id"] for doc in together] == ids  # numbered in the agencies' order
    assert [doc["number"][-6:] for doc in together] == ["000001", "000002", "000003"]
    assert [len(doc["lines"]) for doc in together] == [
        3 if agency == agencies[1].agency_id else 2 for agency in ids
    ]


def test_batches_and_credit_notes_at_the_same_time_keep_both_series_gap_free(
    client, session, monkeypatch
) -> None:
    (earlier,) = agencies_with_cards(client, session, 1, purchases=3)
    period, after = this_month()
    assert run_billing(period.date(), after).paid == 1  # F-…-000001, paid
    later = agencies_with_cards(client, session, 11)
    monkeypatch.setattr(billing_run, "BATCH", 3)  # four batch transactions
    bought = session.execute(
        text("SELECT id FROM purchase WHERE agency_id = :a ORDER BY created_at"),
        {"a": earlier.agency_id},
    ).scalars().all()  # fmt: skip
    session.commit()
    notes: list[Any] = []

    def refund_each() -> None:  # refunds approved while the run bills the others
        for purchase in bought:
            with unit_of_work() as other:
                line = add_refund_line(other, purchase, 100)
                at = datetime.now(after.tzinfo) + timedelta(seconds=1)
                notes.append(credit_now(other, earlier.agency_id, line, at))
            time.sleep(0.01)

    refunds = threading.Thread(target=refund_each)
    refunds.start()
    report = run_billing(period.date(), after)
    refunds.join()

    assert report.invoices == 11
    assert all(note is not None for note in notes)
    assert numbers(session, "invoice") == list(range(1, 13))
    assert numbers(session, "credit_note") == [1, 2, 3]
    ordered = session.execute(
        text("SELECT agency_id FROM invoice WHERE agency_id <> :a ORDER BY number"),
        {"a": earlier.agency_id},
    ).scalars().all()  # fmt: skip
    assert ordered == sorted(a.agency_id for a in later)  # numbers follow the claim order
    assert {r["status"] for r in invoices(session)} == {"paid"}


def test_a_batch_rolled_back_gives_its_numbers_back(client, session, monkeypatch) -> None:
    agencies = agencies_with_cards(client, session, 7)
    period, after = this_month()
    monkeypatch.setattr(billing_run, "BATCH", 3)  # 3 alone, then 3 and 1 at once
    monkeypatch.setenv("MANDAT_BILLING_DOCUMENT_WORKERS", "2")
    real, batches = issue_documents, []

    def second_batch_fails(*args: Any, **kwargs: Any) -> Any:
        issued = real(*args, **kwargs)  # numbers taken, rows written…
        batches.append(args[1])
        if len(batches) == 2:
            raise RuntimeError("the database went away")  # …and rolled back
        return issued

    monkeypatch.setattr(billing_run, "issue_documents", second_batch_fails)
    with pytest.raises(RuntimeError):
        run_billing(period.date(), after)
    # The batch written beside the failed one took its numbers after it, and the failed one's
    # went back to the series: the last agency is F-…-000004, and nothing is missing.
    assert numbers(session, "invoice") == [1, 2, 3, 4]
    billed = session.execute(text("SELECT agency_id FROM invoice")).scalars().all()
    assert not set(billed) & set(batches[1])
    session.commit()
    monkeypatch.setattr(billing_run, "issue_documents", real)

    report = run_billing(period.date(), after)

    assert report.invoices == 3
    assert numbers(session, "invoice") == list(range(1, 8))
    billed = session.execute(text("SELECT agency_id FROM invoice ORDER BY agency_id")).scalars()
    assert list(billed) == sorted(a.agency_id for a in agencies)  # each once
    assert {r["status"] for r in invoices(session)} == {"paid"}


def test_batches_written_at_once_number_in_their_claim_order(client, session, monkeypatch) -> None:
    agencies = agencies_with_cards(client, session, 10)
    period, after = this_month()
    monkeypatch.setattr(billing_run, "BATCH", 2)  # 2 alone, then four batches two at a time
    monkeypatch.setenv("MANDAT_BILLING_DOCUMENT_WORKERS", "2")
    real, started = issue_documents, []

    def second_batch_slow(*args: Any, **kwargs: Any) -> Any:
        started.append(args[1])
        if len(started) == 2:  # the second batch reaches its numbers long after the third
            time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(billing_run, "issue_documents", second_batch_slow)
    run_billing(period.date(), after)

    ordered = session.execute(text("SELECT agency_id FROM invoice ORDER BY number")).scalars()
    assert list(ordered) == sorted(a.agency_id for a in agencies)
    assert numbers(session, "invoice") == list(range(1, 11))
    assert len(started) == 5


def test_invoices_are_collected_while_the_next_batches_are_written(
    client, session, monkeypatch
) -> None:
    agencies_with_cards(client, session, 6)
    period, after = this_month()
    monkeypatch.setattr(billing_run, "BATCH", 2)  # 2 alone, then 2 and 2
    monkeypatch.setenv("MANDAT_BILLING_DOCUMENT_WORKERS", "1")
    real, batches, paid_before_the_last = issue_documents, [], []

    def last_batch_waits_for_a_payment(*args: Any, **kwargs: Any) -> Any:
        batches.append(args[1])
        if len(batches) == 3:
            deadline, paid = time.monotonic() + 20, 0
            while not paid and time.monotonic() < deadline:
                with unit_of_work() as other:
                    paid = other.execute(
                        text("SELECT count(*) FROM invoice WHERE status = 'paid'")
                    ).scalar_one()
                time.sleep(0.05)
            paid_before_the_last.append(paid)
        return real(*args, **kwargs)

    monkeypatch.setattr(billing_run, "issue_documents", last_batch_waits_for_a_payment)
    report = run_billing(period.date(), after)

    assert paid_before_the_last[0] >= 1  # the first batch's invoices were being collected
    assert (report.invoices, report.paid) == (6, 6)
    assert numbers(session, "invoice") == list(range(1, 7))
    assert {r["status"] for r in invoices(session)} == {"paid"}


@pytest.mark.parametrize("processes", [1, 2])
def test_payments_keep_the_configured_pace_with_several_at_once(
    client, session, stripe_fake, monkeypatch, processes
) -> None:
    agencies_with_cards(client, session, 16)
    period, after = this_month()
    collect_in(monkeypatch, processes)  # two: each process keeps the one pace they share
    rate = 10
    monkeypatch.setenv("MANDAT_STRIPE_RATE", str(rate))
    monkeypatch.setenv("MANDAT_BILLING_PAYMENT_WORKERS", "12")
    # Each charge answered in 300 ms, as Stripe's are: one at a time, at most 3.3 a second.
    with stripe_proxy(stripe_fake, latency_s=0.3) as proxy:
        monkeypatch.setenv("STRIPE_API_BASE", proxy.base)
        report = run_billing(period.date(), after)

    charges = sorted(s.at for s in proxy.charges())
    assert (report.invoices, report.paid) == (16, 16)
    assert len(charges) == 16
    achieved = (len(charges) - 1) / (charges[-1] - charges[0])
    busiest = max(sum(1 for t in charges if s <= t < s + 1) for s in charges)
    assert achieved <= 1.1 * rate, achieved  # never faster than the pace…
    assert busiest <= rate + 1, busiest  # …in any second
    # …and several at once (how close to the pace they come depends on the machine's load:
    # benchmarks/billing.py measures it).
    assert proxy.max_in_flight >= 3
    assert set(intents_per_invoice(stripe_fake).values()) == {1}


@pytest.mark.parametrize("processes", [1, 2])
def test_a_429_is_retried_after_a_backoff_with_the_same_key(
    client, session, stripe_fake, monkeypatch, processes
) -> None:
    agencies_with_cards(client, session, 3)
    period, after = this_month()
    collect_in(monkeypatch, processes)
    refused: Counter[str] = Counter()
    lock = threading.Lock()

    def twice_for_the_first_invoice(method: str, path: str, key: str | None) -> bool:
        if path != "/v1/payment_intents" or key is None:
            return False
        with lock:
            if (not refused or key in refused) and refused[key] < 2:
                refused[key] += 1
                return True
        return False

    with stripe_proxy(stripe_fake, limit=twice_for_the_first_invoice) as proxy:
        monkeypatch.setenv("STRIPE_API_BASE", proxy.base)
        report = run_billing(period.date(), after)

    assert (report.paid, report.unreachable) == (3, 0)
    ((key, count),) = refused.items()
    assert count == 2
    tries = [s for s in proxy.charges() if s.key == key]
    assert [s.status for s in tries] == [429, 429, 200]
    gaps = [b.at - a.at for a, b in pairwise(tries)]
    assert gaps[0] >= 0.5 * 0.75  # backoff: 0.5 s, then 1 s (± 25 %)
    assert gaps[1] >= 1.0 * 0.75
    rows = invoices(session)
    assert {r["status"] for r in rows} == {"paid"}
    assert [r["attempts"] for r in rows] == [1, 1, 1]
    assert set(intents_per_invoice(stripe_fake).values()) == {1}


class Killed(BaseException):
    """The process dies here (as a kill would: no handler of ours runs)."""


def test_a_run_killed_mid_payments_then_run_again_charges_every_invoice_once(
    client, session, stripe_fake, monkeypatch
) -> None:
    agencies_with_cards(client, session, 12)
    period, after = this_month()
    monkeypatch.setenv("MANDAT_BILLING_PAYMENT_WORKERS", "4")
    real, answered = gateway.charge, []

    def dies_after_the_fifth_answer(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)  # Stripe charged…
        answered.append(result)
        if len(answered) >= 5:
            raise Killed  # …and the answer is never recorded
        return result

    with stripe_proxy(stripe_fake) as proxy:
        monkeypatch.setenv("STRIPE_API_BASE", proxy.base)
        monkeypatch.setattr(gateway, "charge", dies_after_the_fifth_answer)
        with pytest.raises(Killed):
            run_billing(period.date(), after)
        pending = session.execute(
            text("SELECT count(*) FROM payment_attempt WHERE status = 'pending'")
        ).scalar_one()
        session.commit()
        monkeypatch.setattr(gateway, "charge", real)
        again = run_billing(period.date(), after)

    assert pending >= 1  # charged at Stripe, not recorded here
    assert again.invoices == 0
    rows = invoices(session)
    assert len(rows) == 12
    assert {r["status"] for r in rows} == {"paid"}
    assert [r["attempts"] for r in rows] == [1] * 12
    assert any(s.replayed for s in proxy.charges())  # the same key answered the first result
    per_invoice = intents_per_invoice(stripe_fake)
    assert sorted(per_invoice) == sorted(str(r["id"]) for r in rows)
    assert set(per_invoice.values()) == {1}
    assert len({r["stripe_payment_intent_id"] for r in rows}) == 12  # none shared


def test_a_crash_in_a_payment_process_stops_the_phase_and_is_raised(
    client, session, monkeypatch
) -> None:
    agencies = agencies_with_cards(client, session, 10)
    period, after = this_month()
    ids = sorted(a.agency_id for a in agencies)
    issued = issue_documents(session, ids, period.date(), after, None, read_settings(session))
    session.commit()
    collect_in(monkeypatch, 2)
    monkeypatch.setenv("MANDAT_BILLING_PAYMENT_WORKERS", "2")  # one in each process
    phase = payments.Payments(expected=0)
    phase.collect([uuid.uuid4(), *issued.invoice_ids])  # the first is no invoice: it fails

    with pytest.raises(LookupError, match="no invoice"):
        phase.outcomes()

    attempts = session.execute(text("SELECT count(*) FROM payment_attempt")).scalar_one()
    assert attempts < 10  # the other process stopped too: the rest is left for the next run


def test_a_run_killed_mid_payments_takes_its_payment_processes_with_it(
    client, session, stripe_fake, monkeypatch
) -> None:
    agencies_with_cards(client, session, 12)
    period, after = this_month()
    monkeypatch.setenv("MANDAT_STRIPE_RATE", "10")
    monkeypatch.setenv("MANDAT_BILLING_PAYMENT_PROCESSES", "2")
    with stripe_proxy(stripe_fake, latency_s=0.3) as proxy:
        monkeypatch.setenv("STRIPE_API_BASE", proxy.base)
        run = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from datetime import datetime;"
                "import engine.billing.payments as p; from engine.billing.run import run_billing;"
                "p.PROCESSES_FROM = 0;"
                "run_billing(datetime.fromisoformat(sys.argv[1]).date(),"
                " datetime.fromisoformat(sys.argv[2]))",
                period.isoformat(),
                after.isoformat(),
            ]
        )
        try:
            deadline = time.monotonic() + 60
            while len(proxy.charges()) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            children = payment_processes_of(run.pid)
        finally:
            run.kill()  # SIGKILL: nothing of the run's own runs
            run.wait()
        killed_at = time.monotonic()
        deadline = killed_at + 10
        while any(alive(child) for child in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        still = [child for child in children if alive(child)]
        time.sleep(1)  # charges sent before the kill are answered
        charged = proxy.charges()
        again = run_billing(period.date(), after)

    assert len(children) == 2  # the payment processes were running…
    assert still == []  # …and ended with the run
    assert max(c.at for c in charged) < killed_at + 0.2  # none sent once the run was gone
    assert again.invoices == 0
    rows = invoices(session)
    assert {r["status"] for r in rows} == {"paid"}
    assert [r["attempts"] for r in rows] == [1] * 12
    assert set(intents_per_invoice(stripe_fake).values()) == {1}


def payment_processes_of(pid: int) -> list[int]:
    """The processes `pid` started with multiprocessing's spawn (not its resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that never reaps it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
