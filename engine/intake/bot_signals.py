"""Bot signals: the reasons to quarantine a lead, silently (the answer stays `received`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from engine.intake.submissions import Client, LeadSubmission

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


def serialise(session: Session, key: str) -> None:
    """The submits that share `key` one after the other, until this transaction ends: two
    processes never both count 10 under a limit, nor both take a contact's first lead. Taken in
    one order by every submit (address, phone, e-mail), so they never wait on each other in a
    circle."""
    session.execute(_LOCK, {"key": key})


_RECENT_FROM_IP = text("""
    SELECT count(*) FROM lead
    WHERE client_ip = CAST(:ip AS inet) AND created_at > clock_timestamp() - interval '1 hour'
""")
_RECENT_FOR_PHONE = text("""
    SELECT count(*) FROM lead
    WHERE phone_e164 = :phone AND created_at > clock_timestamp() - interval '1 day'
""")


def bot_signals(
    session: Session,
    submission: LeadSubmission,
    client: Client,
    phone: str,
    estimation: Any,
    settings: dict[str, Any],
) -> list[str]:
    """The reasons to quarantine this lead, in the order checked; empty for a person."""
    reasons = []
    if submission.honeypot is None:
        reasons.append("honeypot_missing")
    elif submission.honeypot.strip():
        reasons.append("honeypot_filled")
    if estimation["age_s"] < float(settings["bot_min_seconds"]):
        reasons.append("too_fast")
    if client.ip is not None:
        serialise(session, f"lead-ip:{client.ip}")
        recent = session.execute(_RECENT_FROM_IP, {"ip": client.ip}).scalar_one()
        if recent >= int(settings["max_leads_per_ip_per_hour"]):
            reasons.append("ip_rate")
    serialise(session, f"lead-phone:{phone}")
    recent = session.execute(_RECENT_FOR_PHONE, {"phone": phone}).scalar_one()
    if recent >= int(settings["max_leads_per_phone_per_day"]):
        reasons.append("phone_rate")
    return reasons
