"""The offer lifecycle (docs/rules.md §5): exclusive window → shared with a cap → expiry.

The phase of an offer is a function of the clock and of its row, computed in SQL where it is
read (`PHASE_SQL`): a lead whose window ended is shared when read, whether or not the scheduler
has run. The scheduler only announces transitions (`announce_transitions`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.notify.outbox import enqueue
from engine.pricing.grid import quote
from engine.pricing.service import current_grid
from engine.sales.models import Offer

# The phase of offer `o` at `:now`: offered_exclusive, offered_shared, sold_out, expired, withdrawn.
# The purchase (`buy_lead()`, migration 0028) computes the same CASE in PL/pgSQL: keep both in step.
PHASE_SQL = """
    CASE
        WHEN o.withdrawn_at IS NOT NULL THEN 'withdrawn'
        WHEN o.exclusive_buyer IS NOT NULL OR o.shared_buyers >= o.shared_cap THEN 'sold_out'
        WHEN :now >= o.expires_at THEN 'expired'
        WHEN :now < o.exclusive_until THEN 'offered_exclusive'
        ELSE 'offered_shared'
    END
"""
OPEN_PHASES = ("offered_exclusive", "offered_shared")


def mode_of(phase: str) -> str | None:
    return {"offered_exclusive": "exclusive", "offered_shared": "shared"}.get(phase)


def open_offer(
    session: Session,
    lead_id: uuid.UUID,
    qualified_at: datetime,
    estimate_mid_eur: int | None,
    grade: str,
    consented: int,
    settings: dict[str, Any],
) -> Offer:
    """Put a just-qualified lead on sale, priced once with the grid in force."""
    grid = current_grid(session)
    exclusive = quote(grid, "exclusive", estimate_mid_eur, grade, consented)
    shared = quote(grid, "shared", estimate_mid_eur, grade, consented)
    offer = Offer(
        lead_id=lead_id,
        created_at=qualified_at,
        exclusive_until=qualified_at + timedelta(hours=float(settings["exclusive_window_hours"])),
        expires_at=qualified_at + timedelta(days=float(settings["offer_days"])),
        shared_cap=int(settings["shared_cap"]),
        exclusive_price_cents=exclusive.price_cents,
        shared_price_cents=shared.price_cents,
        price_grid_version=grid.version,
        price_factors={
            "exclusive": exclusive.factors,
            "shared": shared.factors,
            "inputs": {
                "estimate_mid_eur": estimate_mid_eur,
                "grade": grade,
                "consented_agencies": consented,
            },
        },
    )
    session.add(offer)
    session.flush()
    return offer


_NOW_SHARED = text("""
    UPDATE offer o SET announced = 'shared'
    FROM lead l
    WHERE l.id = o.lead_id AND o.announced = 'none' AND o.withdrawn_at IS NULL
      AND o.exclusive_buyer IS NULL AND o.shared_buyers < o.shared_cap
      AND o.exclusive_until <= :now AND o.expires_at > :now
    RETURNING o.lead_id, o.shared_price_cents, o.expires_at, o.shared_cap - o.shared_buyers
              AS slots_left, l.commune_code, l.grade
""")
_NOW_EXPIRED = text("""
    UPDATE offer SET announced = 'expired'
    WHERE announced <> 'expired' AND withdrawn_at IS NULL AND expires_at <= :now
      AND exclusive_buyer IS NULL AND shared_buyers < shared_cap
""")
_STILL_INTERESTED = text("""
    SELECT lc.agency_id FROM lead_consent lc
    WHERE lc.lead_id = :lead
      AND NOT EXISTS (SELECT 1 FROM purchase p
                      WHERE p.lead_id = lc.lead_id AND p.agency_id = lc.agency_id)
""")


def announce_transitions(session: Session, now: datetime) -> dict[str, int]:
    """Tell consented agencies when an unsold lead becomes shared; mark expired offers. Reads
    never wait for this: the phase is computed from the clock."""
    shared = session.execute(_NOW_SHARED, {"now": now}).mappings().all()
    for offer in shared:
        agencies = list(session.execute(_STILL_INTERESTED, {"lead": offer["lead_id"]}).scalars())
        enqueue(
            session,
            agencies,
            "lead.shared",
            f"{offer['lead_id']}:shared",
            {
                "lead_id": offer["lead_id"],
                "mode": "shared",
                "price_cents": offer["shared_price_cents"],
                "slots_left": offer["slots_left"],
                "offer_ends_at": offer["expires_at"],
                "commune_code": offer["commune_code"],
                "grade": offer["grade"],
            },
        )
    expired = session.execute(_NOW_EXPIRED, {"now": now}).rowcount  # type: ignore[attr-defined]
    return {"shared": len(shared), "expired": int(expired)}


# An offer withdrawn stays withdrawn with its first reason: a later withdrawal changes nothing.
_WITHDRAW = """
    UPDATE offer SET withdrawn_at = clock_timestamp(), withdrawn_reason = :reason
    WHERE lead_id = ANY({leads}) AND withdrawn_at IS NULL
    RETURNING lead_id
"""
_WITHDRAW_LEADS = text(_WITHDRAW.format(leads=":ids"))
_WITHDRAW_PURCHASED = text(
    _WITHDRAW.format(leads="ARRAY(SELECT lead_id FROM purchase WHERE id = :purchase)")
)


def withdraw(
    session: Session,
    lead_ids: list[uuid.UUID] | None,
    reason: str,
    *,
    purchase_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Takes these leads' offers off sale — or, by `purchase_id`, the offer of the lead that
    purchase bought, in the same statement — (their catalogue entries go with them, migration
    0029's triggers): the leads whose offer this withdrew. The only writer of a withdrawal."""
    if purchase_id is not None:
        found = session.execute(_WITHDRAW_PURCHASED, {"purchase": purchase_id, "reason": reason})
    else:
        found = session.execute(_WITHDRAW_LEADS, {"ids": lead_ids, "reason": reason})
    return list(found.scalars())
