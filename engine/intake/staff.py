"""Staff's view of a lead, as a service that checks the caller and owns its unit of work."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.db import unit_of_work
from engine.errors import NotFound


def lead_as_staff_see_it(caller: Principal, lead_id: uuid.UUID) -> dict[str, Any]:
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
