"""Step 2 of the form: contact, project and consent make an estimation a lead (docs/rules.md §4).

The lead is validated (a person must be told what to fix), qualified (score and grade), checked
for bot signals (quarantined, silently), and linked to an earlier lead when it repeats one.
Whatever happens, the homeowner's answer is the same: `received`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from dataclasses import field as default
from datetime import timedelta
from typing import Any

from psycopg import errors as pg_errors
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.contact.validation import (
    email_is_disposable,
    normalise_email,
    phone_e164,
    phone_kind,
)
from engine.errors import FieldError, NotFound, RuleViolation
from engine.intake.models import Lead, LeadConsent
from engine.intake.scoring import grade_for, score_lead
from engine.notify.outbox import enqueue
from engine.privacy.service import send_confirmation
from engine.sales.offers import open_offer
from engine.settings import read_settings

TIMELINES = ("asap", "lt_3_months", "3_6_months", "gt_6_months", "curious")
NAME_MAX = 100
TICKED_VIA = ("box", "all")
# A web origin: scheme, host (name, IPv4 or [IPv6]) and an optional port; "null" for a page
# without one (a sandboxed frame, a file).
ORIGIN = re.compile(r"^(https?://([a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])(:[0-9]{1,5})?|null)$")


@dataclass
class LeadSubmission:
    first_name: str
    last_name: str
    email: str
    phone: str
    timeline: str
    is_owner: bool
    consent_agency_ids: list[uuid.UUID]
    consent_text_version: str
    honeypot: str | None  # the hidden `website` field: people leave it empty, bots fill it
    # How the person ticked each consented agency: "box" or "all" (the "all agencies" control).
    # An agency missing here is recorded as "declared": the client did not say how.
    consent_ticked_via: dict[uuid.UUID, str] = default(default_factory=dict)
    # The origin of the page embedding the form, as the form saw it.
    consent_origin: str | None = None


@dataclass(frozen=True)
class Client:
    """Who sent the request, as the bot checks count it."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class LeadReceipt:
    lead_id: uuid.UUID
    status: str = "received"  # the only public status: never tells a bot it was caught


_ESTIMATION = text("""
    SELECT e.id, e.commune_code, e.candidates, e.property, e.estimate,
           extract(epoch FROM clock_timestamp() - e.created_at) AS age_s,
           l.id AS lead_id
    FROM estimation e LEFT JOIN lead l ON l.estimation_id = e.id
    WHERE e.id = :id
    FOR UPDATE OF e
""")

# Serialises the submits that share a limit, so that two processes never both count 10.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")

_RECENT_FROM_IP = text("""
    SELECT count(*) FROM lead
    WHERE client_ip = CAST(:ip AS inet) AND created_at > clock_timestamp() - interval '1 hour'
""")
_RECENT_FOR_PHONE = text("""
    SELECT count(*) FROM lead
    WHERE phone_e164 = :phone AND created_at > clock_timestamp() - interval '1 day'
""")

# The sellable lead this one repeats: same commune, same phone or e-mail, its window still open.
_ORIGINAL = text("""
    SELECT id FROM lead
    WHERE status = 'qualified' AND commune_code = :commune
      AND (phone_e164 = :phone OR email_key = lower(:email))
      AND dedupe_until > clock_timestamp()
    ORDER BY created_at, id
    LIMIT 1
""")


def submit_lead(
    session: Session, estimation_id: uuid.UUID, submission: LeadSubmission, client: Client
) -> LeadReceipt:
    estimation = session.execute(_ESTIMATION, {"id": estimation_id}).mappings().one_or_none()
    if estimation is None:
        raise NotFound("No estimation has this id.", code="estimation_not_found")
    if estimation["lead_id"] is not None:
        # The same form sent twice (a double click, a retry): the first answer again.
        return LeadReceipt(estimation["lead_id"])

    settings = read_settings(session)
    contact, consented = _validate(session, submission, estimation["candidates"])
    score, reasons = score_lead(
        submission.timeline, submission.is_owner, contact["phone_type"], estimation["property"]
    )
    grade = grade_for(score, settings)
    quarantine = _bot_signals(session, submission, client, contact["phone"], estimation, settings)

    lead = Lead(
        estimation_id=estimation_id,
        commune_code=estimation["commune_code"],
        first_name=contact["first_name"],
        last_name=contact["last_name"],
        email=contact["email"],
        phone_e164=contact["phone"],
        timeline=submission.timeline,
        is_owner=submission.is_owner,
        score=score,
        grade=grade,
        score_reasons=reasons,
        quarantine_reasons=quarantine,
        consent_text_version=submission.consent_text_version,
        consent_origin=contact["origin"],
        client_ip=client.ip,
        user_agent=(client.user_agent or "")[:500] or None,
        rules={
            key: settings[key]
            for key in (
                "bot_min_seconds",
                "max_leads_per_ip_per_hour",
                "max_leads_per_phone_per_day",
                "duplicate_window_days",
                "grade_a_min_score",
                "grade_b_min_score",
            )
        },
    )
    _insert(session, lead, timedelta(days=float(settings["duplicate_window_days"])))
    session.add_all(
        LeadConsent(
            lead_id=lead.id,
            agency_id=uuid.UUID(c["agency_id"]),
            rank=c["rank"],
            agency_name=c["name"],
            distance_m=c["distance_m"],
            reach=c["reach"],
            ticked_via=submission.consent_ticked_via.get(uuid.UUID(c["agency_id"]), "declared"),
        )
        for c in consented
    )
    session.flush()
    if lead.status != "quarantined":  # a bot's address is never mailed
        send_confirmation(session, lead.id)
    if lead.status == "qualified":
        offer = open_offer(
            session,
            lead.id,
            lead.created_at,
            estimation["estimate"].get("mid_eur"),
            grade,
            len(consented),
            settings,
        )
        enqueue(
            session,
            [uuid.UUID(c["agency_id"]) for c in consented],
            "lead.offered",
            f"{lead.id}:exclusive",
            {
                "lead_id": lead.id,
                "mode": "exclusive",
                "price_cents": offer.exclusive_price_cents,
                "offer_ends_at": offer.exclusive_until,
                "commune_code": lead.commune_code,
                "grade": grade,
            },
        )
    return LeadReceipt(lead.id)


def _insert(session: Session, lead: Lead, window: timedelta) -> None:
    """Insert as the original lead; when the exclusion constraint says another original already
    holds this phone or e-mail in this commune, insert as its duplicate instead."""
    lead.created_at = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    lead.consented_at = lead.created_at  # the consent is dated when Mandat receives it
    lead.dedupe_until = lead.created_at + window
    if lead.quarantine_reasons:
        lead.status = "quarantined"
        lead.duplicate_of = None
        session.add(lead)
        session.flush()
        return
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


def _validate(
    session: Session, submission: LeadSubmission, candidates: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every field error at once, each at its JSON path, so the form can show them all."""
    errors: list[FieldError] = []
    contact = _contact(submission, errors)
    if submission.timeline not in TIMELINES:
        errors.append(
            FieldError(
                "project.timeline",
                "unknown_timeline",
                f"The timeline is one of {', '.join(TIMELINES)}.",
            )
        )
    consented = _consented_agencies(submission, candidates, errors)
    contact["origin"] = _embedding_origin(submission, errors)
    errors += _consent_errors(session, submission)
    if errors:
        raise RuleViolation(errors)
    return contact, consented


def _contact(submission: LeadSubmission, errors: list[FieldError]) -> dict[str, Any]:
    """The homeowner's names, e-mail and phone, tidied; what is wrong, added to `errors`."""
    contact: dict[str, Any] = {}
    for field in ("first_name", "last_name"):
        value = " ".join(getattr(submission, field).split())
        if not value:
            errors.append(FieldError(f"contact.{field}", "required", "This field is required."))
        elif len(value) > NAME_MAX:
            errors.append(
                FieldError(f"contact.{field}", "too_long", f"At most {NAME_MAX} characters.")
            )
        contact[field] = value

    email = normalise_email(submission.email.strip())
    if email is None:
        errors.append(
            FieldError("contact.email", "invalid_email", "This e-mail address is not valid.")
        )
    elif email_is_disposable(email):
        errors.append(
            FieldError(
                "contact.email",
                "disposable_email",
                "Disposable e-mail addresses are not accepted: give one you read.",
            )
        )
    contact["email"] = email

    phone = phone_e164(submission.phone)
    if phone is None:
        errors.append(
            FieldError(
                "contact.phone",
                "invalid_phone",
                "Give a French phone number (mainland or overseas), e.g. 06 12 34 56 78.",
            )
        )
    contact["phone"] = phone
    contact["phone_type"] = phone_kind(phone)
    return contact


def _consented_agencies(
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


def _embedding_origin(submission: LeadSubmission, errors: list[FieldError]) -> str | None:
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


def _consent_errors(session: Session, submission: LeadSubmission) -> list[FieldError]:
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


def _bot_signals(
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
        session.execute(_LOCK, {"key": f"lead-ip:{client.ip}"})
        recent = session.execute(_RECENT_FROM_IP, {"ip": client.ip}).scalar_one()
        if recent >= int(settings["max_leads_per_ip_per_hour"]):
            reasons.append("ip_rate")
    session.execute(_LOCK, {"key": f"lead-phone:{phone}"})
    recent = session.execute(_RECENT_FOR_PHONE, {"phone": phone}).scalar_one()
    if recent >= int(settings["max_leads_per_phone_per_day"]):
        reasons.append("phone_rate")
    return reasons


_LEAD_FOR_STAFF = text("""
    SELECT l.id, l.created_at, l.status, l.score, l.grade, l.score_reasons, l.quarantine_reasons,
           l.duplicate_of, l.first_name, l.last_name, l.email, l.phone_e164, l.timeline,
           l.is_owner, l.consent_text_version, l.consented_at, l.consent_origin,
           host(l.client_ip) AS client_ip,
           l.rules, e.id AS estimation_id, e.created_at AS estimated_at, e.source, e.property,
           e.postal_code, e.commune_code, c.name AS commune_name, e.location_precision,
           ST_Y(e.location::geometry) AS lat, ST_X(e.location::geometry) AS lon, e.estimate,
           e.candidates, e.matching_rules,
           coalesce((SELECT jsonb_object_agg(lc.agency_id::text, lc.ticked_via)
                     FROM lead_consent lc WHERE lc.lead_id = l.id), '{}') AS consented,
           coalesce((SELECT jsonb_agg(d.id::text ORDER BY d.created_at) FROM lead d
                     WHERE d.duplicate_of = l.id), '[]') AS duplicates
    FROM lead l
    JOIN estimation e ON e.id = l.estimation_id
    JOIN commune c ON c.code = e.commune_code
    WHERE l.id = :id
""")


def lead_for_staff(session: Session, lead_id: uuid.UUID) -> dict[str, Any]:
    """The whole lead as staff see it: qualification, bot signals, duplicates, the consent given
    and the candidates named, each marked with whether the homeowner consented to it."""
    row = session.execute(_LEAD_FOR_STAFF, {"id": lead_id}).mappings().one_or_none()
    if row is None:
        raise NotFound("No lead has this id.", code="lead_not_found")
    consented = row["consented"]
    return {
        "id": row["id"],
        "created_at": row["created_at"],
        "status": row["status"],
        "score": row["score"],
        "grade": row["grade"],
        "reasons": row["score_reasons"],
        "quarantine_reasons": row["quarantine_reasons"],
        "duplicate_of": row["duplicate_of"],
        "duplicates": row["duplicates"],
        "contact": {
            "first_name": row["first_name"],
            "last_name": row["last_name"],
            "email": row["email"],
            "phone": row["phone_e164"],
        },
        "project": {"timeline": row["timeline"], "is_owner": row["is_owner"]},
        "consent": {
            "text_version": row["consent_text_version"],
            "given_at": row["consented_at"],
            "agency_ids": sorted(consented),
            # How each agency was ticked (box, all, declared, preticked) and where the form was.
            "ticked_via": consented,
            "embedding_origin": row["consent_origin"],
        },
        "client_ip": row["client_ip"],
        "estimation": {
            "id": row["estimation_id"],
            "created_at": row["estimated_at"],
            "source": row["source"],
            "property": row["property"],
            "postal_code": row["postal_code"],
            "commune": {"code": row["commune_code"], "name": row["commune_name"]},
            "location_precision": row["location_precision"],
            "location": {"lat": row["lat"], "lon": row["lon"]},
            "estimate": row["estimate"],
        },
        "candidates": [{**c, "consented": c["agency_id"] in consented} for c in row["candidates"]],
        "rules": {"matching": row["matching_rules"], "intake": row["rules"]},
    }


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
