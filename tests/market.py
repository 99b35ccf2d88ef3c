"""Builders for marketplace tests: agencies with keys, and qualified leads offered to them."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.intake.estimations import EstimationRequest, request_estimate
from engine.intake.submissions import Client, LeadSubmission, submit_lead
from tests.conftest import issue_key
from tests.helpers import add_agency

_people = itertools.count(1)


@dataclass(frozen=True)
class Buyer:
    agency_id: uuid.UUID
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def buyers(session: Session, count: int, role: str = "buyer", **agency: object) -> list[Buyer]:
    """`count` agencies around Rennes (a few hundred metres apart), each with one key."""
    made = []
    for n in range(count):
        agency_id = add_agency(session, -1.68 + n * 0.002, 48.11, **agency)  # type: ignore[arg-type]
        made.append(agency_id)
    session.commit()
    return [Buyer(a, issue_key(role, a)) for a in made]


def offered_lead(
    session: Session,
    consent_to: list[Buyer] | None = None,
    *,
    property_type: str = "appartement",
    surface_m2: float = 70,
    timeline: str = "asap",
    postal_code: str = "35000",
    city: str = "Rennes",
    first_name: str = "Jeanne",
) -> uuid.UUID:
    """A qualified lead with its exclusive offer open, consented to `consent_to` (default: all
    agencies named)."""
    answer = request_estimate(
        session,
        EstimationRequest(
            property_type, surface_m2, postal_code, city, property_facts={"rooms": 3}
        ),
        date.today(),
    )
    session.execute(
        text("UPDATE estimation SET created_at = created_at - interval '1 minute' WHERE id = :id"),
        {"id": answer.id},
    )
    named = [a.agency_id for a in answer.agencies]
    chosen = named if consent_to is None else [b.agency_id for b in consent_to]
    assert set(chosen) <= set(named), "a consented agency must be named"
    n = next(_people)
    receipt = submit_lead(
        session,
        answer.id,
        LeadSubmission(
            first_name=first_name,
            last_name=f"Vendeuse{n}",
            email=f"jeanne.{n}@exemple.fr",
            phone=f"+336{20000000 + n:08d}",
            timeline=timeline,
            is_owner=True,
            consent_agency_ids=chosen,
            consent_text_version="consent-2026-11-fr",
            honeypot="",
        ),
        Client(ip=f"10.9.{n // 250}.{n % 250 + 1}"),
    )
    session.commit()
    status = session.execute(
        text("SELECT status FROM lead WHERE id = :id"), {"id": receipt.lead_id}
    ).scalar_one()
    assert status == "qualified", status
    return receipt.lead_id


def shift_offer(session: Session, lead_id: uuid.UUID, **moves: str) -> None:
    """Move an offer's clock marks, e.g. `exclusive_until="now() - interval '1 second'"`."""
    assignments = ", ".join(f"{column} = {value}" for column, value in moves.items())
    session.execute(text(f"UPDATE offer SET {assignments} WHERE lead_id = :id"), {"id": lead_id})
    session.commit()


def end_exclusive_window(session: Session, lead_id: uuid.UUID) -> None:
    shift_offer(
        session,
        lead_id,
        created_at="now() - interval '25 hours'",
        exclusive_until="now() - interval '1 hour'",
    )
