"""Consent: the wording in force, and the checks of what a homeowner consented to (which agencies,
how each was ticked, from which embedding page, under which published wording)."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.errors import FieldError

if TYPE_CHECKING:
    from engine.intake.submissions import LeadSubmission

TICKED_VIA = ("box", "all")
# A web origin: scheme, host (name, IPv4 or [IPv6]) and an optional port; "null" for a page
# without one (a sandboxed frame, a file).
ORIGIN = re.compile(r"^(https?://([a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])(:[0-9]{1,5})?|null)$")


def consented_agencies(
    submission: LeadSubmission, candidates: list[dict[str, Any]], errors: list[FieldError]
) -> list[dict[str, Any]]:
    """The named agencies the homeowner ticked, once each and in the order ticked; a tick of an
    agency not named, or told ticked in no known way, added to `errors`."""
    named = {uuid.UUID(c["agency_id"]): c for c in candidates}
    consented: list[dict[str, Any]] = []
    seen: set[uuid.UUID] = set()
    for index, agency_id in enumerate(submission.consent_agency_ids):
        if agency_id not in named:
            errors.append(
                FieldError(
                    f"consent.agency_ids[{index}]",
                    "agency_not_offered",
                    "This agency was not among those named for this estimation.",
                )
            )
        elif agency_id not in seen:
            seen.add(agency_id)
            consented.append(named[agency_id])
    for agency_id, via in submission.consent_ticked_via.items():
        if agency_id not in seen or via not in TICKED_VIA:
            errors.append(
                FieldError(
                    f"consent.ticked_via.{agency_id}",
                    "not_ticked" if agency_id not in seen else "unknown_tick",
                    "Say how each ticked agency was ticked (box or all), and only those.",
                )
            )
    return consented


def embedding_origin(submission: LeadSubmission, errors: list[FieldError]) -> str | None:
    """The origin of the page that embeds the form, lower-cased; a malformed one, an error."""
    origin = submission.consent_origin
    if origin is not None and not ORIGIN.match(origin.lower()):
        errors.append(
            FieldError(
                "consent.embedding_origin",
                "invalid_origin",
                "The embedding page's origin, as scheme://host[:port].",
            )
        )
    return origin.lower() if origin else None


def consent_errors(session: Session, submission: LeadSubmission) -> list[FieldError]:
    """No agency ticked at all, or a consent wording Mandat never published."""
    errors: list[FieldError] = []
    if not submission.consent_agency_ids:
        errors.append(
            FieldError(
                "consent.agency_ids",
                "no_agency_consented",
                "Tick at least one agency that may contact you.",
            )
        )
    known = session.execute(
        text("SELECT 1 FROM consent_text WHERE version = :v"),
        {"v": submission.consent_text_version},
    ).first()
    if known is None:
        errors.append(
            FieldError(
                "consent.text_version",
                "unknown_consent_text",
                "This consent wording is not one Mandat published.",
            )
        )
    return errors


def consent_text(session: Session, lang: str) -> tuple[str, str]:
    """The consent wording in force for a language (French unless English is asked)."""
    row = session.execute(
        text("""
            SELECT version, body FROM consent_text WHERE lang = :lang
            ORDER BY published_at DESC, version DESC LIMIT 1
        """),
        {"lang": "en" if lang == "en" else "fr"},
    ).one()
    return row.version, row.body
