"""Buying a lead (PRODUCT §5): one transaction that checks, takes and records, or refuses.

Order of locks, always the same: the idempotency key (its row), the offer (FOR UPDATE), the
buying agency (FOR UPDATE, for its budget and status). The clock is read once, inside the
transaction and after the offer lock, so a purchase racing the end of the exclusive window is
judged by the time it actually holds the offer.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.errors import Conflict, NotFound, PaymentRequired
from engine.notify.outbox import enqueue
from engine.sales.models import LedgerLine, Purchase
from engine.sales.offers import clock_and_phase, mode_of
from engine.sales.read_models import PurchaseReceipt

BUYER_ROLES = ("owner", "buyer")


@dataclass(frozen=True)
class PurchaseRequest:
    lead_id: uuid.UUID
    mode: str
    price_cents: int
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PurchaseAnswer:
    receipt: PurchaseReceipt
    replayed: bool = False

    @classmethod
    def of(cls, stored: dict[str, Any], replayed: bool = False) -> PurchaseAnswer:
        """From the answer as stored (JSON), so that the first answer and its replays agree."""
        return cls(msgspec.convert(stored, PurchaseReceipt, strict=False), replayed)


_OFFER = text("""
    SELECT o.lead_id, o.exclusive_price_cents, o.shared_price_cents, o.shared_cap,
           o.shared_buyers, o.exclusive_until, o.expires_at, o.price_grid_version,
           o.price_factors, lc.rank, lc.reach, lc.distance_m
    FROM offer o
    JOIN lead_consent lc ON lc.lead_id = o.lead_id AND lc.agency_id = :agency
                         AND lc.withdrawn_at IS NULL
    WHERE o.lead_id = :lead
    FOR UPDATE OF o
""")

# The agency row is locked first, then read in a new statement: a statement that waited for a
# lock still sees the data of before the wait (its snapshot), and the budget needs what the
# purchase that held the lock has just spent.
# NO KEY UPDATE: purchases of one agency queue here (its budget), but an insert that refers to
# the agency (this purchase's own Idempotency-Key, ledger line, audit row) takes only a
# key-share lock, which this does not wait for. FOR UPDATE would: two purchases of one agency,
# each holding the key-share lock of its claimed key, would wait for each other (deadlock).
_LOCK_AGENCY = text("SELECT 1 FROM agency WHERE id = :agency FOR NO KEY UPDATE")
# What agency `a` has spent on leads since the start of `:now`'s month (Paris time): the budget
# check and the dashboard read the same sum.
SPENT_THIS_MONTH = """
    coalesce((SELECT sum(amount_cents) FROM ledger_line l
              WHERE l.agency_id = a.id AND l.kind = 'purchase'
                AND l.created_at >= date_trunc('month', :now, 'Europe/Paris')), 0)
"""
_AGENCY = text(f"""
    SELECT a.status, a.paused, a.monthly_budget_cents,
           {SPENT_THIS_MONTH} AS spent_this_month,
           EXISTS (SELECT 1 FROM purchase p WHERE p.lead_id = :lead AND p.agency_id = a.id)
               AS already
    FROM agency a WHERE a.id = :agency
""")

_CONTACT = text("""
    SELECT l.first_name, l.last_name, l.email, l.phone_e164, l.timeline, l.is_owner,
           e.street, e.postal_code, c.code AS commune_code, c.name AS commune_name,
           ST_Y(e.location::geometry) AS lat, ST_X(e.location::geometry) AS lon,
           e.location_precision, e.property, e.estimate, e.candidates, e.matching_rules,
           l.rules AS intake_rules,
           l.consent_text_version, l.consented_at, l.score, l.grade
    FROM lead l
    JOIN estimation e ON e.id = l.estimation_id
    JOIN commune c ON c.code = e.commune_code
    WHERE l.id = :lead
""")


def purchase_lead(session: Session, buyer: Principal, request: PurchaseRequest) -> PurchaseAnswer:
    buyer.require(*BUYER_ROLES)
    agency_id = buyer.agency()
    request_hash = _hash(request)
    if request.idempotency_key is not None:
        replay = _claim_key(session, agency_id, request.idempotency_key, request_hash)
        if replay is not None:
            return PurchaseAnswer.of(replay, replayed=True)

    offer = (
        session.execute(_OFFER, {"lead": request.lead_id, "agency": agency_id})
        .mappings()
        .one_or_none()
    )
    if offer is None:
        raise NotFound("No lead with this id is offered to your agency.", code="lead_not_found")
    now, phase = clock_and_phase(session, request.lead_id)  # after the offer's lock
    session.execute(_LOCK_AGENCY, {"agency": agency_id})
    agency = (
        session.execute(_AGENCY, {"agency": agency_id, "lead": request.lead_id, "now": now})
        .mappings()
        .one()
    )

    if agency["status"] == "suspended":
        raise PaymentRequired(
            "Your account is suspended: settle the unpaid invoice to buy again.",
            code="account_suspended",
        )
    if agency["already"]:
        raise Conflict("Your agency already bought this lead.", code="already_purchased")
    if agency["paused"]:
        raise Conflict("Your agency is paused: resume it to buy leads.", code="agency_paused")
    current_mode = mode_of(phase)
    if current_mode is None:
        raise Conflict(f"This lead is no longer on sale ({phase}).", code="lead_unavailable")
    if request.mode != current_mode:
        raise Conflict(
            f"This lead is offered {current_mode} only now.",
            code="mode_unavailable",
            mode=current_mode,
        )
    price = offer[f"{current_mode}_price_cents"]
    if request.price_cents != price:
        raise Conflict(
            "The price has changed: check it and buy again.",
            code="price_changed",
            price_cents=price,
        )
    budget = agency["monthly_budget_cents"]
    if budget is not None and agency["spent_this_month"] + price > budget:
        raise PaymentRequired(
            "This purchase would exceed your monthly budget.",
            code="budget_exceeded",
            budget_cents=budget,
            spent_cents=int(agency["spent_this_month"]),
        )

    lead = session.execute(_CONTACT, {"lead": request.lead_id}).mappings().one()
    purchase = Purchase(
        lead_id=request.lead_id,
        agency_id=agency_id,
        mode=current_mode,
        price_cents=price,
        created_at=now,
        bought_by=buyer.key_id,
        bought_by_person=buyer.person_id,
        allocation=_allocation(offer, lead, agency_id, current_mode, now),
    )
    try:
        with session.begin_nested():
            session.add(purchase)
            session.execute(_TAKE[current_mode], {"agency": agency_id, "lead": request.lead_id})
            session.flush()
    except IntegrityError as error:
        # The checks above hold the offer's lock, so this is the constraints' second line.
        raise _refusal(error) from error
    session.add(
        LedgerLine(
            agency_id=agency_id,
            purchase_id=purchase.id,
            kind="purchase",
            amount_cents=price,
            created_at=now,
        )
    )
    record(
        session,
        buyer,
        "contact.revealed",
        "lead",
        request.lead_id,
        purchase_id=str(purchase.id),
        mode=current_mode,
        price_cents=price,
    )
    enqueue(
        session,
        [agency_id],
        "purchase.created",
        str(purchase.id),
        {
            "purchase_id": purchase.id,
            "lead_id": request.lead_id,
            "mode": current_mode,
            "price_cents": price,
        },
    )
    body = purchase_body(purchase.id, request.lead_id, current_mode, price, now, lead)
    if request.idempotency_key is not None:
        # The answer as stored, so that the first answer and its replays are the same bytes.
        body = session.execute(
            text("""
                UPDATE idempotency_key SET status_code = 201, response = CAST(:body AS jsonb)
                WHERE agency_id = :agency AND key = :key
                RETURNING response
            """),
            {"body": json.dumps(body), "agency": agency_id, "key": request.idempotency_key},
        ).scalar_one()
    session.flush()
    return PurchaseAnswer.of(body)


_TAKE = {
    "exclusive": text("UPDATE offer SET exclusive_buyer = :agency WHERE lead_id = :lead"),
    "shared": text("UPDATE offer SET shared_buyers = shared_buyers + 1 WHERE lead_id = :lead"),
}


def _refusal(error: IntegrityError) -> Conflict:
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    if constraint == "uq_purchase_once_per_agency":
        return Conflict("Your agency already bought this lead.", code="already_purchased")
    if constraint in ("uq_purchase_one_exclusive", "ck_offer_shared_cap", "ck_offer_one_mode"):
        return Conflict("This lead is no longer on sale.", code="lead_unavailable")
    raise error


def purchase_body(
    purchase_id: uuid.UUID,
    lead_id: uuid.UUID,
    mode: str,
    price_cents: int,
    at: Any,
    lead: Any,
) -> dict[str, Any]:
    """The answer to a purchase: the contact, revealed. JSON-ready (stored for replays)."""
    return {
        "purchase_id": str(purchase_id),
        "lead_id": str(lead_id),
        "mode": mode,
        "price_cents": price_cents,
        "purchased_at": at.isoformat(),
        "contact": {
            "first_name": lead["first_name"],
            "last_name": lead["last_name"],
            "email": lead["email"],
            "phone": lead["phone_e164"],
        },
        "address": {
            "street": lead["street"],
            "postal_code": lead["postal_code"],
            "commune_code": lead["commune_code"],
            "city": lead["commune_name"],
            "lat": lead["lat"],
            "lon": lead["lon"],
            "precision": lead["location_precision"],
        },
        "project": {"timeline": lead["timeline"], "is_owner": lead["is_owner"]},
        "property": lead["property"],
    }


def _allocation(offer: Any, lead: Any, agency_id: uuid.UUID, mode: str, now: Any) -> dict[str, Any]:
    """Everything needed to replay why this agency could buy this lead at this price."""
    return {
        "at": now.isoformat(),
        "agency_id": str(agency_id),
        "rank": offer["rank"],
        "reach": offer["reach"],
        "distance_m": float(offer["distance_m"]),
        "candidates": lead["candidates"],
        "matching_rules": lead["matching_rules"],
        "intake_rules": lead["intake_rules"],
        "consent": {
            "text_version": lead["consent_text_version"],
            "given_at": lead["consented_at"].isoformat(),
        },
        "score": lead["score"],
        "grade": lead["grade"],
        "offer": {
            "mode": mode,
            "exclusive_until": offer["exclusive_until"].isoformat(),
            "expires_at": offer["expires_at"].isoformat(),
            "shared_cap": offer["shared_cap"],
            "shared_buyers_before": offer["shared_buyers"],
        },
        "price": {
            "grid_version": offer["price_grid_version"],
            "factors": offer["price_factors"],
        },
    }


def _hash(request: PurchaseRequest) -> str:
    canonical = json.dumps(
        {"lead_id": str(request.lead_id), "mode": request.mode, "price": request.price_cents},
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim_key(
    session: Session, agency_id: uuid.UUID, key: str, request_hash: str
) -> dict[str, Any] | None:
    """Take the key for this request, or return the answer already given with it.

    A concurrent request with the same key waits on the insert until the first one commits
    (then replays its answer) or rolls back (then takes the key itself)."""
    claimed = session.execute(
        text("""
            INSERT INTO idempotency_key (agency_id, key, request_hash)
            VALUES (:agency, :key, :hash)
            ON CONFLICT (agency_id, key) DO NOTHING
            RETURNING 1
        """),
        {"agency": agency_id, "key": key, "hash": request_hash},
    ).first()
    if claimed is not None:
        return None
    stored = session.execute(
        text(
            "SELECT request_hash, response FROM idempotency_key WHERE agency_id = :a AND key = :k"
        ),
        {"a": agency_id, "k": key},
    ).one()
    if stored.request_hash != request_hash:
        raise Conflict(
            "This Idempotency-Key was used for another request.", code="idempotency_key_reused"
        )
    response: dict[str, Any] = stored.response
    return response
