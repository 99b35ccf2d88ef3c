"""Notifications from the outbox: a real SMTP server and a real webhook receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from engine.notify import deliver
from engine.notify.deliver import deliver_due
from engine.sales.offers import announce_transitions
from tests.market import buyers, end_exclusive_window, offered_lead, shift_offer
from tests.processes import Scheduler
from tests.receivers import Receiver


@pytest.fixture
def receiver(monkeypatch) -> Iterator[Receiver]:
    monkeypatch.setenv("MANDAT_ALLOW_LOCAL_WEBHOOKS", "1")
    r = Receiver()
    yield r
    r.close()


def now(session) -> Any:  # type: ignore[no-untyped-def]
    return session.execute(text("SELECT clock_timestamp()")).scalar_one()


def test_a_new_lead_reaches_each_consented_agency_by_email_and_signed_webhook(
    session, mailbox, receiver
) -> None:
    a, b, _outsider = buyers(session, 3)
    session.execute(
        text("UPDATE agency SET webhook_url = :u WHERE id = :a"),
        {"u": receiver.url(), "a": a.agency_id},
    )
    session.commit()
    lead = offered_lead(session, consent_to=[a, b])

    report = deliver_due(now(session))
    session.commit()

    # a: e-mail + webhook, b: e-mail, and the homeowner's confirmation
    assert (report.delivered, report.retried) == (4, 0)
    to_agencies = [m for m in mailbox.messages if m["To"].startswith("agence")]
    recipients = sorted(m["To"] for m in to_agencies)
    emails = dict(session.execute(text("SELECT id, email FROM agency")).tuples().all())
    assert recipients == sorted([emails[a.agency_id], emails[b.agency_id]])
    assert "Nouveau contact vendeur" in to_agencies[0]["Subject"]
    headers, body = receiver.requests[0]
    assert headers["Mandat-Event"] == "lead.offered"
    secret = session.execute(
        text("SELECT webhook_secret FROM agency WHERE id = :a"), {"a": a.agency_id}
    ).scalar_one()
    timestamp = headers["Mandat-Signature"].split(",")[0].removeprefix("t=")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert headers["Mandat-Signature"] == f"t={timestamp},v1={expected.hexdigest()}"
    assert abs(int(timestamp) - time.time()) < 60
    assert json.loads(body)["lead_id"] == str(lead)
    everything = body.decode() + "".join(
        m.get_body((kind,)).get_content() for m in to_agencies for kind in ("plain", "html")
    )
    assert "Vendeuse" not in everything
    assert "+336" not in everything
    assert "@exemple.fr" not in body.decode()
    # Delivered once: a second run sends nothing.
    assert deliver_due(now(session)).delivered == 0


def test_a_failing_webhook_is_retried_with_backoff_then_delivered(session, receiver) -> None:
    (a,) = buyers(session, 1)
    session.execute(
        text("UPDATE agency SET webhook_url = :u WHERE id = :a"),
        {"u": receiver.url(), "a": a.agency_id},
    )
    session.commit()
    offered_lead(session)
    session.execute(text("DELETE FROM outbox WHERE channel = 'email'"))
    session.commit()
    receiver.status = 503
    start = now(session)

    first = deliver_due(start)
    session.commit()
    row = session.execute(text("SELECT attempts, last_error, next_attempt_at FROM outbox")).one()
    assert (first.retried, row.attempts, row.last_error) == (1, 1, "RuntimeError: HTTP 503")
    assert timedelta(seconds=29) < row.next_attempt_at - start < timedelta(seconds=31)
    assert deliver_due(start + timedelta(seconds=10)).retried == 0  # not due yet

    second = deliver_due(start + timedelta(seconds=31))
    session.commit()
    assert second.retried == 1
    row = session.execute(text("SELECT next_attempt_at FROM outbox")).one()
    assert row.next_attempt_at - (start + timedelta(seconds=31)) > timedelta(seconds=59)

    receiver.status = 200
    third = deliver_due(start + timedelta(minutes=5))
    session.commit()
    assert third.delivered == 1
    assert len(receiver.requests) == 3


def test_a_message_still_failing_after_24_hours_is_given_up_and_visible(session, receiver) -> None:
    (a,) = buyers(session, 1)
    session.execute(
        text("UPDATE agency SET webhook_url = :u WHERE id = :a"),
        {"u": receiver.url(), "a": a.agency_id},
    )
    session.commit()
    offered_lead(session)
    session.execute(text("DELETE FROM outbox WHERE channel = 'email'"))
    session.execute(text("UPDATE outbox SET created_at = created_at - interval '25 hours'"))
    session.commit()
    receiver.status = 500

    report = deliver_due(now(session))
    session.commit()

    assert report.given_up == 1
    row = session.execute(text("SELECT gave_up_at, last_error, delivered_at FROM outbox")).one()
    assert row.gave_up_at is not None
    assert row.delivered_at is None
    assert row.last_error == "RuntimeError: HTTP 500"


def test_a_batch_sent_while_the_database_fails_over_is_recorded_and_not_sent_again(
    session, mailbox, monkeypatch
) -> None:
    """The connections of the deliverer cut after the e-mails left (as a failover cuts them):
    the record is made on a new connection, so the messages are not sent again after the lease."""
    buyers(session, 2)
    offered_lead(session)
    session.commit()
    queued = session.execute(text("SELECT count(*) FROM outbox")).scalar_one()
    real_send = deliver.send_email
    cut: list[int] = []

    def send_then_cut(message: Any, attachment: Any) -> None:
        real_send(message, attachment)
        if not cut:
            cut.append(1)
            session.execute(
                text("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid()
                      AND usename = current_user
                """)
            )

    monkeypatch.setattr(deliver, "send_email", send_then_cut)
    start = now(session)

    report = deliver_due(start)
    session.commit()

    assert cut
    assert report.delivered == queued
    assert (
        session.execute(text("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")).scalar_one()
        == 0
    )
    assert deliver_due(start + deliver.LEASE + timedelta(minutes=1)).delivered == 0
    assert len(mailbox.messages) == queued


def test_an_unsold_lead_announced_shared_once_to_agencies_that_did_not_buy(session) -> None:
    a, b = buyers(session, 2)
    lead = offered_lead(session)
    expired = offered_lead(session)
    end_exclusive_window(session, lead)
    shift_offer(
        session,
        expired,
        created_at="now() - interval '31 days'",
        exclusive_until="now() - interval '30 days'",
        expires_at="now() - interval '1 hour'",
    )

    first = announce_transitions(session, now(session))
    again = announce_transitions(session, now(session))
    session.commit()

    assert first == {"shared": 1, "expired": 1}
    assert again == {"shared": 0, "expired": 0}
    shared = session.execute(
        text("SELECT agency_id, payload FROM outbox WHERE event = 'lead.shared'")
    ).all()
    assert sorted(r.agency_id for r in shared) == sorted([a.agency_id, b.agency_id])
    assert {r.payload["lead_id"] for r in shared} == {str(lead)}


def test_one_scheduler_at_a_time_and_it_runs_the_jobs(database_url, session, mailbox) -> None:
    buyers(session, 1)
    offered_lead(session)
    env = {
        **os.environ,
        "DATABASE_URL": database_url.replace("+psycopg", ""),
        "SMTP_URL": os.environ["SMTP_URL"],
    }
    first = Scheduler(env)
    second = None
    try:
        assert first.running(within_s=20)
        deadline = time.monotonic() + 20
        while len(mailbox.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(mailbox.messages) == 2  # the delivery job ran: agency and homeowner mailed

        second = Scheduler(env)
        assert not second.running(within_s=3)  # it waits for the lock…
        assert second.process.poll() is None
        first.stop()
        assert second.running(within_s=20)  # …and takes over when the first stops
        assert len(mailbox.messages) == 2  # nothing sent twice
    finally:
        for scheduler in (first, second):
            if scheduler:
                scheduler.stop()
