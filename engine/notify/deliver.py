"""Delivering the outbox: signed webhooks and e-mails, retried with exponential backoff.

A batch is claimed, then sent, then recorded, each step apart so that no transaction or lock is
held while a receiver answers:

1. **Claim** (one short transaction): the due messages, at most `PER_RECEIVER` per receiver, are
   locked with `FOR UPDATE SKIP LOCKED` and leased (`next_attempt_at` moved `LEASE` ahead), then
   committed. A deliverer that dies mid-batch leaves its messages due again when the lease ends:
   delivery is at least once (webhook receivers deduplicate on `Mandat-Delivery`).
2. **Send**, outside any transaction: each receiver's messages in order on one of `WORKERS`
   threads, so a slow receiver holds one thread for at most a webhook deadline; after its first
   failure, its other messages of the batch wait for the next try instead of failing one by one.
3. **Record** (one short transaction): delivered, or retried after a backoff, or given up when
   still failing 24 hours after it was written (visible with its last error). A record cut by a
   database failover is made again on a new connection: left undone, every message of the batch
   would be sent a second time when its lease ends.

Webhooks carry `Mandat-Signature: t=<unix time>,v1=<hex>` where
`v1 = HMAC-SHA256(agency's webhook secret, "<t>.<body>")`: the receiver recomputes it and refuses
old timestamps, so a captured request cannot be replayed later. For a day after the agency
rotates its secret, a second `v1` made with the previous secret follows the first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.db import is_connection_lost, unit_of_work
from engine.notify import webhooks
from engine.notify.mail import redact_addresses, send_email
from engine.notify.places import place_of, places

log = logging.getLogger("mandat.notify")
GIVE_UP_AFTER = timedelta(hours=24)
FIRST_RETRY_S = 30
MAX_RETRY_S = 3_600
LEASE = timedelta(minutes=10)
PER_RECEIVER = 5
RECORD_FOR_S = 60  # a failover takes seconds; PgBouncer refuses logins for a while after one
WORKERS = int(os.environ.get("MANDAT_DELIVERY_WORKERS", "8"))

_CLAIM = text("""
    WITH due AS (
        SELECT o.id, row_number() OVER (
                   PARTITION BY o.channel, coalesce(o.agency_id::text, o.recipient)
                   ORDER BY o.next_attempt_at, o.id) AS nth
        FROM outbox o
        WHERE o.delivered_at IS NULL AND o.gave_up_at IS NULL AND o.next_attempt_at <= :now
    ), picked AS (
        SELECT o.id, o.agency_id FROM outbox o JOIN due ON due.id = o.id
        WHERE due.nth <= :per_receiver
          AND o.delivered_at IS NULL AND o.gave_up_at IS NULL AND o.next_attempt_at <= :now
        ORDER BY o.next_attempt_at, o.id
        LIMIT :limit
        FOR UPDATE OF o SKIP LOCKED
    )
    UPDATE outbox o SET next_attempt_at = :now + :lease
    FROM picked LEFT JOIN agency a ON a.id = picked.agency_id
    WHERE o.id = picked.id
    RETURNING o.id, o.agency_id, o.recipient, o.channel, o.event, o.payload, o.attempts,
              o.created_at, a.name AS agency_name, coalesce(o.recipient, a.email) AS email,
              a.webhook_url, a.webhook_secret,
              CASE WHEN a.previous_webhook_secret_until > :now
                   THEN a.previous_webhook_secret END AS previous_webhook_secret
""")


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    given_up: int = 0

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.given_up


def deliver_due(now: datetime, limit: int = 100) -> DeliveryReport:
    """Claim, send and record one batch of the messages due at `now`."""
    with unit_of_work() as session:
        claimed = [dict(m) for m in session.execute(_CLAIM, _claim_params(now, limit)).mappings()]
        attachments = {m["id"]: _attachment(session, m["payload"]) for m in claimed}
        mails = [m for m in claimed if m["channel"] == "email" and m["agency_id"] is not None]
        known = places(session, [m["payload"] for m in mails])
        for message in mails:
            message["place"] = place_of(message["payload"], known)
    if not claimed:
        return DeliveryReport()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for message in sorted(claimed, key=lambda m: m["id"]):
        groups[(message["channel"], str(message["agency_id"] or message["recipient"]))].append(
            message
        )
    with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(groups)))) as pool:
        outcomes = [
            outcome
            for group in pool.map(lambda g: list(_send_group(g, attachments)), groups.values())
            for outcome in group
        ]
    return _record_despite_failover(now, outcomes)


def _record_despite_failover(
    now: datetime, outcomes: list[tuple[dict[str, Any], str | None]]
) -> DeliveryReport:
    """What was sent is recorded even if the database fails over meanwhile: the record tried
    again on a new connection for up to `RECORD_FOR_S` (it only sets values, so a record that
    did commit before its connection was cut is harmless to repeat). Given up, the batch's
    messages stay leased and are sent again when the lease ends."""
    deadline = time.monotonic() + RECORD_FOR_S
    while True:
        try:
            with unit_of_work() as session:
                return _record(session, now, outcomes)
        except DBAPIError as error:
            if not is_connection_lost(error) or time.monotonic() > deadline:
                raise
            log.warning("recording a delivered batch again: the database connection was lost")
            time.sleep(1)


def _claim_params(now: datetime, limit: int) -> dict[str, Any]:
    return {"now": now, "limit": limit, "per_receiver": PER_RECEIVER, "lease": LEASE}


def _send_group(
    messages: list[dict[str, Any]], attachments: dict[int, tuple[str, bytes] | None]
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """(message, None when delivered or why not), in order; after a failure the rest wait."""
    failed = False
    for message in messages:
        if failed:
            yield message, "NotTried: the receiver failed earlier in this batch"
            continue
        try:
            if message["channel"] == "webhook":
                send_webhook(message)
            else:
                send_email(message, attachments[message["id"]])
        except Exception as error:  # noqa: BLE001 - any failure is retried, then given up
            failed = True
            yield message, redact_addresses(f"{type(error).__name__}: {error}")[:500]
            continue
        yield message, None


def _record(
    session: Session, now: datetime, outcomes: list[tuple[dict[str, Any], str | None]]
) -> DeliveryReport:
    delivered = retried = given_up = 0
    for message, error in outcomes:
        attempts = message["attempts"] + 1
        if error is None:
            delivered += 1
            session.execute(_DELIVERED, {"n": attempts, "now": now, "id": message["id"]})
        elif now - message["created_at"] >= GIVE_UP_AFTER:
            given_up += 1
            session.execute(_GAVE_UP, {"n": attempts, "e": error, "now": now, "id": message["id"]})
            log.warning("gave up outbox message %s: %s", message["id"], error)
        else:
            retried += 1
            session.execute(
                _RETRY,
                {"n": attempts, "e": error, "at": now + backoff(attempts), "id": message["id"]},
            )
    return DeliveryReport(delivered, retried, given_up)


# A homeowner's message loses its text once sent: it holds their private link.
_DELIVERED = text("""
    UPDATE outbox SET attempts = :n, delivered_at = :now,
           payload = CASE WHEN agency_id IS NULL THEN payload - 'text' ELSE payload END
    WHERE id = :id
""")
_GAVE_UP = text("""
    UPDATE outbox SET attempts = :n, last_error = :e, gave_up_at = :now,
           payload = CASE WHEN agency_id IS NULL THEN payload - 'text' ELSE payload END
    WHERE id = :id
""")
_RETRY = text(
    "UPDATE outbox SET attempts = :n, last_error = :e, next_attempt_at = :at WHERE id = :id"
)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … up to an hour between tries."""
    return timedelta(seconds=min(FIRST_RETRY_S * 2 ** (attempts - 1), MAX_RETRY_S))


def signature(secret: str, timestamp: int, body: bytes, previous: str | None = None) -> str:
    """`t=<unix time>,v1=<hex>`; in the day after a rotation, a second `v1` made with the
    previous secret follows, so a receiver still holding it verifies too."""
    signed = f"{timestamp}.".encode() + body
    macs = [
        hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in (secret, previous) if s
    ]
    return f"t={timestamp}," + ",".join(f"v1={mac}" for mac in macs)


def send_webhook(message: Any) -> None:
    url = message["webhook_url"]
    if not url:
        raise RuntimeError("the agency has no webhook URL any more")
    body = json.dumps(message["payload"], separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    status, answer = webhooks.post(
        url,
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "Mandat-Webhooks/1",
            "Mandat-Event": message["event"],
            "Mandat-Delivery": str(message["id"]),
            "Mandat-Signature": signature(
                message["webhook_secret"], timestamp, body, message.get("previous_webhook_secret")
            ),
        },
    )
    if not 200 <= status < 300:
        excerpt = answer[:200].decode("utf-8", "replace").strip()
        raise RuntimeError(f"HTTP {status}" + (f": {excerpt}" if excerpt else ""))


def _attachment(session: Session, payload: dict[str, Any]) -> tuple[str, bytes] | None:
    """The stored Factur-X an e-mail carries (the bytes stored at issue, never made again)."""
    if not payload.get("einvoice_id"):
        return None
    row = session.execute(
        text("SELECT number, pdf FROM einvoice WHERE id = :id"), {"id": payload["einvoice_id"]}
    ).one()
    return f"{row.number}.pdf", bytes(row.pdf)
