"""Retention (PRODUCT §9): personal data kept no longer than needed, every period a setting.

Unsold leads (never bought: quarantined, duplicates and expired offers included) are anonymised
`retention_unsold_days` after they arrived; sold leads `retention_sold_days` after their last
purchase. Purchases' idempotency keys (their stored answers hold the contact) are deleted
`retention_idempotency_key_hours` after their request: a retry later than that is a new request
(and a 409 `already_purchased`). Access-log files (MANDAT_ACCESS_LOG_DIR) are deleted
`retention_access_log_days` after their day. Invoices and credit notes are kept (10 years):
their lines name a commune and a date, never a person. Each run says what it did in the audit
log.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.audit import record

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


def anonymise(session: Session, lead_ids: list[Any], reason: str) -> int:
    """Personal fields emptied, the street dropped and the point moved to the town hall, the
    offer withdrawn, the stored purchase answers (which held the contact) cleared."""
    if not lead_ids:
        return 0
    params = {"ids": lead_ids, "reason": reason}
    done = session.execute(
        text("""
            UPDATE lead SET first_name = NULL, last_name = NULL, email = NULL,
                   phone_e164 = NULL, user_agent = NULL, client_ip = NULL,
                   erased_at = clock_timestamp()
            WHERE id = ANY(:ids) AND erased_at IS NULL
        """),
        params,
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        text("""
            UPDATE estimation e SET street = NULL, location = c.town_hall,
                   location_precision = 'town_hall'
            FROM commune c, lead l
            WHERE c.code = e.commune_code AND l.estimation_id = e.id AND l.id = ANY(:ids)
        """),
        params,
    )
    session.execute(
        text("""
            UPDATE idempotency_key SET response = NULL
            WHERE response->>'lead_id' = ANY(CAST(:ids AS text[]))
        """),
        {"ids": [str(i) for i in lead_ids]},
    )
    session.execute(
        text("""
            UPDATE offer SET withdrawn_at = coalesce(withdrawn_at, clock_timestamp()),
                   withdrawn_reason = coalesce(withdrawn_reason, :reason)
            WHERE lead_id = ANY(:ids)
        """),
        params,
    )
    return int(done)


def purge_idempotency_keys(session: Session, before: datetime) -> int:
    """Deletes the purchases' idempotency keys taken before `before`: how many."""
    deleted: int = session.execute(
        text("DELETE FROM idempotency_key WHERE created_at < :before"), {"before": before}
    ).rowcount  # type: ignore[attr-defined]
    return deleted


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
    }
    if access_logs is not None and access_logs.is_dir():
        days = int(settings["retention_access_log_days"])
        counts["access_log_files_purged"] = purge_access_logs(access_logs, now, days)
    record(session, None, "retention.ran", "retention", now.date().isoformat(), **counts)
    return counts
