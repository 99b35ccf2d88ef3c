"""Webhooks and e-mails against hostile receivers and networks (security review F7 and F8): the
address checked is the address connected to, internal addresses in disguise are refused, a
dripping or flooding receiver is cut off, a slow one holds neither a lock nor the others, and
SMTP verifies certificates and keeps passwords off plain connections."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from engine.notify import webhooks
from engine.notify.deliver import deliver_due
from tests.market import buyers, offered_lead
from tests.processes import Mailbox, free_port
from tests.receivers import (
    RawReceiver,
    Receiver,
    drip,
    flood,
    resolving,
    self_signed,
    server_context,
)

PUBLIC = "93.184.216.34"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trusted(certificate, monkeypatch) -> tuple[Path, Path]:
    """The test certificate trusted as a CA, as SSL_CERT_FILE makes it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    return certificate


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch) -> None:
    """The tests never leave this machine: a connection to any other address is refused at
    once, as an unreachable public receiver would be."""
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise ConnectionRefusedError(f"{address[0]} is off limits to the tests")
        real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def webhooks_due(session, *urls: str) -> list[Any]:  # type: ignore[no-untyped-def]
    """One agency per URL, each with one webhook due (their e-mails removed)."""
    agencies = buyers(session, len(urls))
    for agency, url in zip(agencies, urls, strict=True):
        session.execute(
            text("UPDATE agency SET webhook_url = :u WHERE id = :a"),
            {"u": url, "a": agency.agency_id},
        )
    session.commit()
    offered_lead(session, consent_to=agencies)
    session.execute(text("DELETE FROM outbox WHERE channel = 'email'"))
    session.commit()
    return agencies


def now(session) -> Any:  # type: ignore[no-untyped-def]
    value = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    session.commit()
    return value


def outbox(session) -> list[Any]:  # type: ignore[no-untyped-def]
    rows = session.execute(
        text("SELECT agency_id, delivered_at, last_error, attempts FROM outbox ORDER BY id")
    ).all()
    session.commit()
    return list(rows)


def test_F7_webhook_connects_to_the_address_it_checked_not_a_second_lookup(
    session, trusted, monkeypatch
) -> None:
    """DNS rebinding: the name answers a public address to the check, then loopback."""
    monkeypatch.delenv("MANDAT_ALLOW_LOCAL_WEBHOOKS", raising=False)
    receiver = Receiver(server_context(*trusted))
    answers = iter([[PUBLIC]])
    try:
        with resolving(monkeypatch, {"rebind.example.test": lambda: next(answers, ["127.0.0.1"])}):
            webhooks_due(session, receiver.url("rebind.example.test"))
            report = deliver_due(now(session))
    finally:
        receiver.close()

    assert receiver.requests == []
    assert report.retried == 1
    (row,) = outbox(session)
    assert row.delivered_at is None


def test_F7_webhook_keeps_the_name_for_host_and_certificate_while_pinned(
    session, trusted, monkeypatch
) -> None:
    monkeypatch.setenv("MANDAT_ALLOW_LOCAL_WEBHOOKS", "1")
    names_seen: list[str] = []
    receiver = Receiver(server_context(*trusted, names_seen))
    try:
        with resolving(monkeypatch, {"hooks.example.test": lambda: ["127.0.0.1"]}) as lookups:
            webhooks_due(session, receiver.url("hooks.example.test"))
            report = deliver_due(now(session))
    finally:
        receiver.close()

    assert report.delivered == 1
    ((headers, _body),) = receiver.requests
    assert headers["Host"] == f"hooks.example.test:{receiver.port}"
    assert names_seen == ["hooks.example.test"]  # SNI, and the certificate checked for it
    assert lookups["hooks.example.test"] == 1


def test_F7_webhook_refuses_an_untrusted_certificate(session, certificate, monkeypatch) -> None:
    monkeypatch.setenv("MANDAT_ALLOW_LOCAL_WEBHOOKS", "1")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    receiver = Receiver(server_context(*certificate))
    try:
        with resolving(monkeypatch, {"hooks.example.test": lambda: ["127.0.0.1"]}):
            webhooks_due(session, receiver.url("hooks.example.test"))
            report = deliver_due(now(session))
    finally:
        receiver.close()

    assert (report.delivered, report.retried) == (0, 1)
    assert "CERTIFICATE_VERIFY_FAILED" in outbox(session)[0].last_error


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254, the cloud metadata service
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::a00:1",  # NAT64 for local use (RFC 8215)
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::10.0.0.1",  # IPv4-compatible
        "ff02::1",  # multicast
        "169.254.169.254",
        "10.0.0.1",
        "fd00:ec2::254",
    ],
)
def test_F7_nat64_6to4_and_mapped_forms_of_internal_addresses_are_refused(
    session, monkeypatch, address
) -> None:
    monkeypatch.delenv("MANDAT_ALLOW_LOCAL_WEBHOOKS", raising=False)
    with resolving(monkeypatch, {"hooks.example.test": lambda: [PUBLIC, address]}):
        webhooks_due(session, "https://hooks.example.test/mandat")
        report = deliver_due(now(session))

    assert report.retried == 1
    assert "resolves to an internal address" in outbox(session)[0].last_error


def test_F7_a_public_nat64_address_is_still_allowed() -> None:
    from ipaddress import ip_address

    assert webhooks.is_public_address(ip_address("64:ff9b::808:808"))  # NAT64 of 8.8.8.8
    assert webhooks.is_public_address(ip_address("2002:808:808::1"))  # 6to4 of 8.8.8.8
    assert webhooks.is_public_address(ip_address(PUBLIC))


def _deliver_within(seconds: float, when: Any) -> tuple[bool, float]:
    """Runs a delivery in a thread: (whether it ended within `seconds`, how long it took)."""
    start = time.monotonic()
    worker = threading.Thread(target=deliver_due, args=(when,), daemon=True)
    worker.start()
    worker.join(seconds)
    return not worker.is_alive(), time.monotonic() - start


def test_F7_a_receiver_dripping_its_answer_is_cut_off_at_the_deadline(session, monkeypatch) -> None:
    monkeypatch.setenv("MANDAT_ALLOW_LOCAL_WEBHOOKS", "1")
    monkeypatch.setattr(webhooks, "DEADLINE_S", 2.0, raising=False)
    receiver = RawReceiver(drip)
    try:
        webhooks_due(session, receiver.url)
        ended, took = _deliver_within(20, now(session))
    finally:
        receiver.close()

    assert ended, "the delivery still waits for a receiver that sends a byte every 0.2 s"
    assert took < 6
    (row,) = outbox(session)
    assert row.delivered_at is None
    assert "Timeout" in row.last_error


def test_F7_a_receiver_flooding_its_answer_is_read_no_further_than_the_cap(
    session, monkeypatch
) -> None:
    monkeypatch.setenv("MANDAT_ALLOW_LOCAL_WEBHOOKS", "1")
    receiver = RawReceiver(flood)
    try:
        webhooks_due(session, receiver.url)
        ended, took = _deliver_within(30, now(session))
        time.sleep(0.5)  # the receiver notices the client left
        sent = receiver.sent
    finally:
        receiver.close()

    assert ended
    assert took < 5
    assert sent < 50 * 2**20, "the whole 50 MB answer was read"
    (row,) = outbox(session)
    assert row.last_error.startswith("RuntimeError: HTTP 500: xxxx")
    assert len(row.last_error) <= 500


def test_F7_a_slow_receiver_holds_no_lock_and_does_not_hold_back_the_others(
    session, database_url, monkeypatch
) -> None:
    monkeypatch.setenv("MANDAT_ALLOW_LOCAL_WEBHOOKS", "1")
    slow, fast = Receiver(delay_s=3), Receiver()
    try:
        webhooks_due(session, slow.url(), fast.url())
        worker = threading.Thread(target=deliver_due, args=(now(session),), daemon=True)
        worker.start()
        assert slow.arrived.wait(10)
        fast_done = fast.arrived.wait(2)
        with psycopg.connect(database_url.replace("+psycopg", "")) as other:
            locked = other.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'outbox' AND l.pid <> pg_backend_pid()"
            ).fetchone()
            idle_in_transaction = other.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND state LIKE 'idle in transaction%' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
            other.execute("SELECT id FROM outbox FOR UPDATE NOWAIT").fetchall()
        still_waiting = worker.is_alive()
        worker.join(20)
    finally:
        slow.close()
        fast.close()

    assert fast_done, "the fast receiver waited for the slow one"
    assert still_waiting  # the slow receiver was still answering while we looked
    assert locked == (0,)
    assert idle_in_transaction == (0,)
    assert all(row.delivered_at is not None for row in outbox(session))


# --- e-mail (F8) ---


class Authenticator:
    """Accepts any password over any connection, and remembers having been asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        self.asked.append(mechanism)
        return AuthResult(success=True)


@pytest.fixture
def relay(certificate) -> Iterator[Any]:
    """Starts an SMTP relay: `relay(scheme, **options)` -> (mailbox, its URL without scheme)."""
    from aiosmtpd.controller import Controller

    started: list[Controller] = []

    def start(scheme: str, **options: Any) -> tuple[Mailbox, str]:
        box = Mailbox()
        context = server_context(*certificate)
        if scheme == "smtps":
            options["ssl_context"] = context
        elif scheme == "smtp+starttls":
            options.update(tls_context=context, require_starttls=True)
        controller = Controller(box, hostname="127.0.0.1", port=free_port(), **options)
        if scheme == "smtps":
            controller.ready_timeout = 5
        controller.start()
        started.append(controller)
        return box, f"127.0.0.1:{controller.port}"

    yield start
    for controller in started:
        controller.stop()


def homeowner_mail_due(session) -> None:  # type: ignore[no-untyped-def]
    buyers(session, 1)
    offered_lead(session)
    session.execute(text("DELETE FROM outbox WHERE agency_id IS NOT NULL"))
    session.commit()


@pytest.mark.parametrize("scheme", ["smtps", "smtp+starttls"])
def test_F8_smtp_relay_certificates_are_verified(
    session, relay, certificate, monkeypatch, scheme
) -> None:
    box, where = relay(scheme)
    monkeypatch.setenv("SMTP_URL", f"{scheme}://{where}")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    homeowner_mail_due(session)

    refused = deliver_due(now(session))
    error = outbox(session)[0].last_error
    untrusted = list(box.messages)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    accepted = deliver_due(now(session) + timedelta(minutes=1))

    assert untrusted == [], "mail went to a relay whose certificate nobody vouches for"
    assert refused.retried == 1
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert accepted.delivered == 1
    assert len(box.messages) == 1


def test_F8_a_password_is_never_sent_over_plain_smtp(session, relay, monkeypatch) -> None:
    authenticator = Authenticator()
    box, where = relay("smtp", authenticator=authenticator, auth_require_tls=False)
    monkeypatch.setenv("SMTP_URL", f"smtp://mandat:s3cret@{where}")
    homeowner_mail_due(session)

    report = deliver_due(now(session))

    assert authenticator.asked == []
    assert box.messages == []
    assert report.retried == 1
    assert "plain smtp://" in outbox(session)[0].last_error


def test_F8_smtp_errors_keep_recipient_addresses_out_of_the_outbox() -> None:
    from engine.notify.mail import redact_addresses

    said = "SMTPRecipientsRefused: {'jeanne.1@exemple.fr': (550, b'No such user')}"
    assert "jeanne" not in redact_addresses(said)
    assert "550" in redact_addresses(said)
