"""Duplicates: a lead that repeats a sellable one (same commune, same phone or e-mail, its window
still open) is kept, linked to the original, and never sold."""

from __future__ import annotations

import uuid
from datetime import timedelta

from psycopg import errors as pg_errors
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.intake.bot_signals import serialise
from engine.intake.models import Lead

# The sellable lead this one repeats: same commune, same phone or e-mail, its window still open.
_ORIGINAL = text("""
    SELECT id FROM lead
    WHERE status = 'qualified' AND commune_code = :commune
      AND (phone_e164 = :phone OR email_key = lower(:email))
      AND dedupe_until > clock_timestamp()
    ORDER BY created_at, id
    LIMIT 1
""")


def insert_lead(session: Session, lead: Lead, window: timedelta) -> None:
    """Insert as the original lead; when another original already holds this phone or e-mail in
    this commune, insert as its duplicate instead.

    Submits of one phone are already serialised (`bot_signals`), those of one e-mail are here, so
    the lookup of the original sees the one that committed first. Without that, racing inserts
    wait on each other's rows in the exclusion constraints and PostgreSQL cancels some as
    deadlocks (503 `try_again` once the retries are spent). The constraints still settle any
    writer that takes no lock."""
    lead.created_at = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    lead.consented_at = lead.created_at  # the consent is dated when Mandat receives it
    lead.dedupe_until = lead.created_at + window
    if lead.quarantine_reasons:
        lead.status = "quarantined"
        lead.duplicate_of = None
        session.add(lead)
        session.flush()
        return
    if lead.email:
        serialise(session, f"lead-email:{lead.email.lower()}")
    original = _original(session, lead)
    if original is None:
        lead.status = "qualified"
        try:
            with session.begin_nested():
                session.add(lead)
                session.flush()
            return
        except IntegrityError as error:
            if not isinstance(error.orig, pg_errors.ExclusionViolation):
                raise
        # Another submit won the race and has committed: it is the original.
        original = _original(session, lead)
        if original is None:  # pragma: no cover - the winner was rolled back meanwhile
            raise RuntimeError("duplicate lead without an original")
    lead.status = "duplicate"
    lead.duplicate_of = original
    session.add(lead)
    session.flush()


def _original(session: Session, lead: Lead) -> uuid.UUID | None:
    row = session.execute(
        _ORIGINAL,
        {"commune": lead.commune_code, "phone": lead.phone_e164, "email": lead.email},
    ).scalar_one_or_none()
    return row
