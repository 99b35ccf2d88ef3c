"""Everything a contact's page shows beyond the contact itself: the consent receipt, why the
agency could buy (the allocation record), the timeline, reminders and appointments, who works it,
and the refund request with the rules that apply and the time left to ask."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.contact.validation import phone_e164
from engine.crm.agenda import of_purchase
from engine.crm.appointments import AppointmentRecord
from engine.crm.reminders import Reminder
from engine.crm.timeline import Colleague, Interaction, colleagues, timeline
from engine.refunds.listing import get_request
from engine.refunds.read_models import RefundRequestRecord
from engine.sales.contacts import get_purchase
from engine.sales.read_models import PurchasedLead
from engine.settings import read_settings


@dataclass(frozen=True)
class NamedAgency:
    rank: int
    name: str
    consented: bool
    ticked_via: str | None  # box, all, declared, preticked; None: not ticked
    is_you: bool


@dataclass(frozen=True)
class ConsentReceipt:
    text_version: str
    text: str  # the wording, word for word
    given_at: datetime
    origin: str | None  # the page that embedded the form
    named: list[NamedAgency]
    withdrawn_at: datetime | None


@dataclass(frozen=True)
class Allocation:
    rank: int
    candidates: int
    reach: str  # zone, extended_30, extended_50
    distance_m: float
    mode: str
    bought_at: datetime
    exclusive_until: datetime | None
    shared_buyers_before: int
    shared_cap: int
    grid_version: int | None
    grade: str


@dataclass(frozen=True)
class RefundPanel:
    window_days: int
    closes_at: datetime
    is_open: bool
    calls: list[datetime]  # the logged calls: the attempts a refund request sends
    provable: list[str]  # rules that would approve it at once, by reason (see engine.refunds)
    request: RefundRequestRecord | None


@dataclass(frozen=True)
class ContactFile:
    lead: PurchasedLead
    consent: ConsentReceipt
    allocation: Allocation
    timeline: list[Interaction]
    reminders: list[Reminder]
    appointments: list[AppointmentRecord]
    assigned_to: Colleague | None
    colleagues: list[Colleague]
    first_contact_at: datetime | None
    refund: RefundPanel
    now: datetime


_FILE = text("""
    SELECT p.allocation, p.created_at, p.first_contact_at, p.assigned_to, p.agency_id,
           l.consent_text_version, l.consented_at, l.consent_origin, l.phone_e164,
           t.body AS consent_text, e.candidates,
           (SELECT jsonb_object_agg(lc.agency_id::text, lc.ticked_via)
            FROM lead_consent lc WHERE lc.lead_id = l.id) AS ticked,
           (SELECT lc.withdrawn_at FROM lead_consent lc
            WHERE lc.lead_id = l.id AND lc.agency_id = p.agency_id) AS withdrawn_at,
           (SELECT r.id FROM refund_request r WHERE r.purchase_id = p.id) AS refund_id,
           clock_timestamp() AS now
    FROM purchase p
    JOIN lead l ON l.id = p.lead_id
    JOIN estimation e ON e.id = l.estimation_id
    JOIN consent_text t ON t.version = l.consent_text_version
    WHERE p.id = :id AND p.agency_id = :agency
""")


def contact_file(session: Session, agency_id: uuid.UUID, purchase_id: uuid.UUID) -> ContactFile:
    lead = get_purchase(session, agency_id, purchase_id)  # NotFound for another agency's
    row = session.execute(_FILE, {"id": purchase_id, "agency": agency_id}).mappings().one()
    reminders, appointments = of_purchase(session, agency_id, purchase_id)
    events = timeline(session, agency_id, purchase_id)
    team = colleagues(session, agency_id)
    window = int(read_settings(session)["refund_window_days"])
    closes_at = row["created_at"] + timedelta(days=window)
    request = get_request(session, row["refund_id"], agency_id) if row["refund_id"] else None
    calls = sorted(i.occurred_at for i in events if i.kind == "call")
    return ContactFile(
        lead=lead,
        consent=_consent(row, agency_id),
        allocation=_allocation(row["allocation"], row["created_at"], lead.grade),
        timeline=events,
        reminders=reminders,
        appointments=appointments,
        assigned_to=next((c for c in team if c.id == row["assigned_to"]), None),
        colleagues=team,
        first_contact_at=row["first_contact_at"],
        refund=RefundPanel(
            window, closes_at, row["now"] <= closes_at, calls, _provable(row), request
        ),
        now=row["now"],
    )


def _consent(row: Any, agency_id: uuid.UUID) -> ConsentReceipt:
    ticked = row["ticked"] or {}
    named = [
        NamedAgency(
            int(c.get("rank", n)), c.get("name", ""), c["agency_id"] in ticked,
            ticked.get(c["agency_id"]), c["agency_id"] == str(agency_id),
        )
        for n, c in enumerate(row["candidates"] or [], start=1)
    ]  # fmt: skip
    return ConsentReceipt(
        row["consent_text_version"], row["consent_text"], row["consented_at"],
        row["consent_origin"], named, row["withdrawn_at"],
    )  # fmt: skip


def _allocation(record: dict[str, Any], bought_at: datetime, grade: str) -> Allocation:
    offer = record.get("offer", {})
    until = offer.get("exclusive_until")
    return Allocation(
        rank=int(record.get("rank", 0)),
        candidates=len(record.get("candidates", [])),
        reach=str(record.get("reach", "zone")),
        distance_m=float(record.get("distance_m", 0)),
        mode=str(offer.get("mode", "")),
        bought_at=bought_at,
        exclusive_until=datetime.fromisoformat(until) if until else None,
        shared_buyers_before=int(offer.get("shared_buyers_before", 0)),
        shared_cap=int(offer.get("shared_cap", 0)),
        grid_version=record.get("price", {}).get("grid_version"),
        grade=grade,
    )


def _provable(row: Any) -> list[str]:
    """The reasons our own records prove for this purchase (engine.refunds.rules.provable):
    withdrawn consent proves any reason; a number that fails the check proves wrong_number. A
    duplicate is checked when asked. (Out of zone is never proven by rule: a lead bought as an
    extension showed its distance before the purchase, and such a request is refused.)"""
    found = []
    if row["withdrawn_at"] is not None:
        found.append("consent_withdrawn")
    if not row["phone_e164"] or phone_e164(row["phone_e164"]) is None:
        found.append("wrong_number")
    return found
