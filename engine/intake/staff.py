"""Staff's view of a lead, as a service that checks the caller and owns its unit of work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.db import unit_of_work
from engine.errors import NotFound
from engine.sales.read_models import Contact, Project


@dataclass(frozen=True)
class StaffConsent:
    text_version: str
    given_at: datetime
    agency_ids: list[uuid.UUID]
    # How each agency was ticked (box, all, declared, preticked), by agency id.
    ticked_via: dict[str, str]
    embedding_origin: str | None


@dataclass(frozen=True)
class Commune:
    code: str
    name: str


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class StaffEstimation:
    """The estimation behind the lead; the property and the estimate are the stored documents."""

    id: uuid.UUID
    created_at: datetime
    source: str | None
    property: dict[str, Any]
    postal_code: str
    commune: Commune
    location_precision: str
    location: Point
    estimate: dict[str, Any]


@dataclass(frozen=True)
class StaffCandidate:
    """An agency named to the homeowner, and whether they consented to it."""

    agency_id: uuid.UUID
    name: str
    rank: int
    distance_m: float
    reach: str
    consented: bool


@dataclass(frozen=True)
class RulesInForce:
    """The rules as they were when the lead was matched and qualified (stored documents)."""

    matching: dict[str, Any]
    intake: dict[str, Any]


@dataclass(frozen=True)
class StaffLead:
    """The whole lead as staff see it: qualification, bot signals, duplicates, consent."""

    id: uuid.UUID
    created_at: datetime
    status: str
    score: int
    grade: str
    reasons: list[str]
    quarantine_reasons: list[str]
    duplicate_of: uuid.UUID | None
    duplicates: list[uuid.UUID]
    contact: Contact
    project: Project
    consent: StaffConsent
    client_ip: str | None
    estimation: StaffEstimation
    candidates: list[StaffCandidate]
    rules: RulesInForce


def lead_as_staff_see_it(caller: Principal, lead_id: uuid.UUID) -> StaffLead:
    """Admin and finance: qualification, bot signals, duplicates, consent, candidates. The read
    is audited: it shows the homeowner's contact (security review F19)."""
    caller.require("admin", "finance")
    with unit_of_work() as session:
        lead = lead_for_staff(session, lead_id)
        record(session, caller, "lead.read_by_staff", "lead", lead_id)
        return lead


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


def lead_for_staff(session: Session, lead_id: uuid.UUID) -> StaffLead:
    """The whole lead as staff see it: qualification, bot signals, duplicates, the consent given
    and the candidates named, each marked with whether the homeowner consented to it."""
    row = session.execute(_LEAD_FOR_STAFF, {"id": lead_id}).mappings().one_or_none()
    if row is None:
        raise NotFound("No lead has this id.", code="lead_not_found")
    consented = row["consented"]
    return StaffLead(
        id=row["id"],
        created_at=row["created_at"],
        status=row["status"],
        score=row["score"],
        grade=row["grade"],
        reasons=row["score_reasons"],
        quarantine_reasons=row["quarantine_reasons"],
        duplicate_of=row["duplicate_of"],
        duplicates=[uuid.UUID(d) for d in row["duplicates"]],
        contact=Contact(row["first_name"], row["last_name"], row["email"], row["phone_e164"]),
        project=Project(timeline=row["timeline"], is_owner=row["is_owner"]),
        consent=StaffConsent(
            text_version=row["consent_text_version"],
            given_at=row["consented_at"],
            agency_ids=[uuid.UUID(a) for a in sorted(consented)],
            ticked_via=consented,
            embedding_origin=row["consent_origin"],
        ),
        client_ip=row["client_ip"],
        estimation=StaffEstimation(
            id=row["estimation_id"],
            created_at=row["estimated_at"],
            source=row["source"],
            property=row["property"],
            postal_code=row["postal_code"],
            commune=Commune(row["commune_code"], row["commune_name"]),
            location_precision=row["location_precision"],
            location=Point(lat=row["lat"], lon=row["lon"]),
            estimate=row["estimate"],
        ),
        candidates=[_candidate(c, consented) for c in row["candidates"]],
        rules=RulesInForce(matching=row["matching_rules"], intake=row["rules"]),
    )


def _candidate(stored: dict[str, Any], consented: dict[str, str]) -> StaffCandidate:
    """A candidate as stored with the estimation (its agency id as text)."""
    return StaffCandidate(
        agency_id=uuid.UUID(stored["agency_id"]),
        name=stored["name"],
        rank=stored["rank"],
        distance_m=stored["distance_m"],
        reach=stored["reach"],
        consented=stored["agency_id"] in consented,
    )
