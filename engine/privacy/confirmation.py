"""The confirmation e-mail's answers (docs/rules.md §4): "c'est bien moi" or "ce n'était pas moi".

Confirmed, the lead is *contact confirmed*: the time is kept, buyers see a badge, and the score
gains its points (the grade may rise; prices already quoted stay). Disowned, the lead is withdrawn
at once and every buyer refunded in full (rule `auto:not_me`) and told not to call.

The first answer holds: clicking the same link again answers the same and changes nothing;
"not me" after a confirmation is refused (`contact_confirmed`: the confirmation is what buyers
paid on; the homeowner still has erasure and consent withdrawal through their private link), and
so is a confirmation after "not me" (`contact_disowned`: the lead was withdrawn, buyers refunded).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.audit import record
from engine.errors import Conflict
from engine.intake.scoring import grade_for, with_confirmed_contact
from engine.notify.outbox import enqueue
from engine.refunds.deciding import RefundOutcome, refund_not_me
from engine.sales import offers


@dataclass(frozen=True)
class Confirmed:
    confirmed_at: datetime
    grade: str


@dataclass(frozen=True)
class Disowned:
    disowned_at: datetime
    buyers_refunded: int
    # Credit notes to pay back through Stripe once committed.
    refunds: list[RefundOutcome]


def confirm(session: Session, lead: Any) -> Confirmed:
    """`lead` is the locked row the link opened (engine.privacy.links.opened)."""
    if lead.disowned_at is not None:
        raise Conflict(
            "You told us this request was not yours: it was withdrawn.", code="contact_disowned"
        )
    row = session.execute(
        text("SELECT score, score_reasons, rules, grade FROM lead WHERE id = :id"),
        {"id": lead.id},
    ).one()
    if lead.contact_confirmed_at is not None:
        return Confirmed(lead.contact_confirmed_at, row.grade)
    score, reasons = with_confirmed_contact(row.score, row.score_reasons)
    grade = grade_for(score, row.rules)
    confirmed_at = session.execute(
        text("""
            UPDATE lead SET contact_confirmed_at = clock_timestamp(), score = :score,
                   score_reasons = CAST(:reasons AS jsonb), grade = :grade
            WHERE id = :id RETURNING contact_confirmed_at
        """),
        {"id": lead.id, "score": score, "reasons": _json(reasons), "grade": grade},
    ).scalar_one()
    record(session, None, "homeowner.contact_confirmed", "lead", lead.id, grade=grade)
    return Confirmed(confirmed_at, grade)


def disown(session: Session, lead: Any) -> Disowned:
    """Withdraw the lead, refund every buyer in full, tell each of them."""
    if lead.contact_confirmed_at is not None:
        raise Conflict(
            "You confirmed this request was yours. To stop it, erase your data or withdraw "
            "your consent with your private link.",
            code="contact_confirmed",
        )
    if lead.disowned_at is not None:
        return Disowned(lead.disowned_at, _refunded_buyers(session, lead.id), [])
    disowned_at = session.execute(
        text("""
            UPDATE lead SET disowned_at = clock_timestamp() WHERE id = :id
            RETURNING disowned_at
        """),
        {"id": lead.id},
    ).scalar_one()
    offers.withdraw(session, [lead.id], "not_me")
    refunds = refund_not_me(session, lead.id)
    buyers = session.execute(
        text("SELECT agency_id, id FROM purchase WHERE lead_id = :id"), {"id": lead.id}
    ).all()
    for agency_id, purchase_id in buyers:
        enqueue(
            session,
            [agency_id],
            "lead.disowned",
            str(purchase_id),
            {
                "purchase_id": purchase_id,
                "lead_id": lead.id,
                "action": "The homeowner says they never made this request: do not contact "
                "them. Your purchase is refunded in full.",
            },
        )
    record(
        session,
        None,
        "homeowner.disowned",
        "lead",
        lead.id,
        buyers_notified=len(buyers),
        refunds=len(refunds),
    )
    return Disowned(disowned_at, len(buyers), refunds)


def _refunded_buyers(session: Session, lead_id: uuid.UUID) -> int:
    return int(
        session.execute(
            text("SELECT count(*) FROM purchase WHERE lead_id = :id"), {"id": lead_id}
        ).scalar_one()
    )


def _json(value: Any) -> str:
    return json.dumps(value)
