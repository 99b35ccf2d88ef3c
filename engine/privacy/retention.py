"""Retention (docs/rules.md §9): personal data kept no longer than needed, every period a setting.

Unsold leads (never bought: quarantined, duplicates and expired offers included) are anonymised
`retention_unsold_days` after they arrived; sold leads `retention_sold_days` after their last
purchase (`engine.privacy.erasure` says what anonymising removes). Purchases' idempotency keys
(their stored answers hold the contact) are deleted `retention_idempotency_key_hours` after their
request: a retry later than that is a new request (and a 409 `already_purchased`). Access-log
files (MANDAT_ACCESS_LOG_DIR) are deleted `retention_access_log_days` after their day.

Other traces go on their own clocks: outbox messages sent or given up `retention_outbox_days`
before; estimations that never became a lead (street and point included)
`retention_estimation_hours` after they were made; Stripe event payloads
`retention_stripe_event_days` after they came (the event id stays: a replay is still refused);
each lead's client address and browser `retention_client_address_hours` after it arrived (the
bot checks look one hour back), with the rate-limit buckets (keyed by address) idle that long.

Invoices and credit notes are kept (10 years): their lines name a commune and a date, never a
person. Each run says what it did in the audit log.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.audit import record
from engine.privacy.erasure import anonymise

_UNSOLD = text("""
    SELECT l.id FROM lead l
    WHERE l.erased_at IS NULL AND l.created_at < :before
      AND NOT EXISTS (SELECT 1 FROM purchase p WHERE p.lead_id = l.id)
""")
_SOLD = text("""
    SELECT l.id FROM lead l
    WHERE l.erased_at IS NULL
      AND EXISTS (SELECT 1 FROM purchase p WHERE p.lead_id = l.id)
      AND (SELECT max(p.created_at) FROM purchase p WHERE p.lead_id = l.id) < :before
""")


def purge_idempotency_keys(session: Session, before: datetime) -> int:
    """Deletes the purchases' idempotency keys taken before `before`: how many."""
    deleted: int = session.execute(
        text("DELETE FROM idempotency_key WHERE created_at < :before"), {"before": before}
    ).rowcount  # type: ignore[attr-defined]
    return deleted


_PURGES = {
    "outbox_messages_purged": (
        "retention_outbox_days",
        "days",
        text("""
            DELETE FROM outbox
            WHERE coalesce(delivered_at, gave_up_at) < :before
        """),
    ),
    "estimations_purged": (
        "retention_estimation_hours",
        "hours",
        text("""
            DELETE FROM estimation e
            WHERE e.created_at < :before
              AND NOT EXISTS (SELECT 1 FROM lead l WHERE l.estimation_id = e.id)
        """),
    ),
    "stripe_payloads_emptied": (
        "retention_stripe_event_days",
        "days",
        text("""
            UPDATE stripe_event SET payload = NULL
            WHERE received_at < :before AND payload IS NOT NULL
        """),
    ),
    "client_addresses_cleared": (
        "retention_client_address_hours",
        "hours",
        text("""
            UPDATE lead SET client_ip = NULL, user_agent = NULL
            WHERE created_at < :before AND (client_ip IS NOT NULL OR user_agent IS NOT NULL)
        """),
    ),
    # A bucket idle that long is full again (sign-in buckets refill in 15 minutes): forgetting
    # it changes no limit.
    "rate_buckets_purged": (
        "retention_client_address_hours",
        "hours",
        text("DELETE FROM rate_bucket WHERE updated_at < :before"),
    ),
}


def purge_traces(session: Session, now: datetime, settings: dict[str, Any]) -> dict[str, int]:
    """The traces each on its own clock (`_PURGES`): how many rows each purge touched."""
    counts = {}
    for name, (setting, unit, statement) in _PURGES.items():
        before = now - timedelta(**{unit: int(settings[setting])})
        counts[name] = int(session.execute(statement, {"before": before}).rowcount)  # type: ignore[attr-defined]
    return counts


_ACCESS_FILE = re.compile(r"^access-(\d{4}-\d{2}-\d{2})-\d+\.jsonl$")


def purge_access_logs(folder: Path, now: datetime, days: int) -> int:
    """Deletes the access-log files of days older than `days` before `now`: how many."""
    oldest_kept = (now - timedelta(days=days)).date().isoformat()
    purged = 0
    for path in folder.glob("access-*.jsonl"):
        found = _ACCESS_FILE.match(path.name)
        if found and found.group(1) < oldest_kept:
            path.unlink(missing_ok=True)
            purged += 1
    return purged


def run_retention(
    session: Session, now: datetime, settings: dict[str, Any], access_logs: Path | None = None
) -> dict[str, int]:
    unsold = list(
        session.execute(
            _UNSOLD, {"before": now - timedelta(days=int(settings["retention_unsold_days"]))}
        ).scalars()
    )
    sold = list(
        session.execute(
            _SOLD, {"before": now - timedelta(days=int(settings["retention_sold_days"]))}
        ).scalars()
    )
    counts = {
        "unsold_anonymised": anonymise(session, unsold, "retention"),
        "sold_anonymised": anonymise(session, sold, "retention"),
        "idempotency_keys_purged": purge_idempotency_keys(
            session, now - timedelta(hours=int(settings["retention_idempotency_key_hours"]))
        ),
        **purge_traces(session, now, settings),
    }
    if access_logs is not None and access_logs.is_dir():
        days = int(settings["retention_access_log_days"])
        counts["access_log_files_purged"] = purge_access_logs(access_logs, now, days)
    record(session, None, "retention.ran", "retention", now.date().isoformat(), **counts)
    return counts
