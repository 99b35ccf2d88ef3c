"""Buying a lead (docs/rules.md §5): one call to the database function `buy_lead` (migration 0028,
docs/adr/0004) that checks, takes and records, or refuses.

Order of locks, always the same: the idempotency key (its row), the offer (FOR UPDATE), the
buying agency (FOR NO KEY UPDATE, for its budget and status). The clock is read once, after the
offer's lock, so a purchase racing the end of the exclusive window is judged by the time it
actually holds the offer. The refusals and their order are stated in `engine.sales.rules`; the
function raises SQLSTATE `MD4xx` with the refusal's code and its facts (JSON, in DETAIL).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import msgspec
import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.errors import MandatError, RuleViolation
from engine.sales.read_models import PurchaseReceipt
from engine.sales.rules import BUYER_ROLES, answer


@dataclass(frozen=True)
class PurchaseRequest:
    lead_id: uuid.UUID
    mode: str
    price_cents: int
    idempotency_key: str | None = None

    def checked(self) -> PurchaseRequest:
        """Itself, once its Idempotency-Key (when given) is seen to be more than blanks."""
        if self.idempotency_key is not None and not self.idempotency_key.strip():
            raise RuleViolation.at("Idempotency-Key", "invalid_idempotency_key", "Empty key.")
        return self


@dataclass(frozen=True)
class PurchaseAnswer:
    """The answer as stored (JSON text): the first answer and its replays are the same bytes."""

    body: str
    replayed: bool = False

    @cached_property
    def receipt(self) -> PurchaseReceipt:
        return msgspec.json.decode(self.body, type=PurchaseReceipt, strict=False)


# What agency `a` has spent on leads since the start of `:now`'s month (Paris time): the budget
# check (`buy_lead`) and the dashboard read the same rows, kept by a trigger on the ledger.
SPENT_THIS_MONTH = """
    coalesce((SELECT sum(s.cents) FROM agency_month_spend s
              WHERE s.agency_id = a.id AND s.month >= paris_month(:now)), 0)
"""

_BUY = (
    "SELECT body, replayed FROM buy_lead(%s::uuid, %s::uuid, %s::text, %s::uuid, %s::uuid,"
    " %s::text, %s::bigint, %s::text, %s::text)"
)
# The database's refusals: SQLSTATE MD + the HTTP status.
_REFUSED = frozenset({"MD401", "MD402", "MD403", "MD404", "MD409"})


def buy(connection: Connection, buyer: Principal, request: PurchaseRequest) -> PurchaseAnswer:
    """The purchase in one statement on `connection`: in autocommit, one round trip and its own
    transaction; in a transaction, part of it. A key's row is read by the function (revoked,
    expired, its role now), so a caller with a key may be as this process last verified it
    (`keys.remembered_caller`); a person signed in is checked here and there."""
    try:
        body, replayed = connection.exec_driver_sql(_BUY, _params(buyer, request)).one()
    except DBAPIError as error:
        refusal = refused(error)
        if refusal is None:
            raise
        raise refusal from error
    return PurchaseAnswer(body, replayed)


async def buy_on(
    connection: psycopg.AsyncConnection[Any], buyer: Principal, request: PurchaseRequest
) -> PurchaseAnswer:
    """`buy` on an async connection in autocommit (an event loop's, no worker thread): the same
    statement, one round trip, its own transaction."""
    try:
        cursor = await connection.execute(_BUY, _params(buyer, request))
        row = await cursor.fetchone()
    except psycopg.Error as error:
        refusal = _refusal(error)
        if refusal is None:
            raise
        raise refusal from error
    assert row is not None  # the function answers one row or raises
    return PurchaseAnswer(row[0], row[1])


def _params(buyer: Principal, request: PurchaseRequest) -> tuple[Any, ...]:
    if buyer.key_id is None:
        buyer.require(*BUYER_ROLES)
    key = request.idempotency_key
    return (
        buyer.key_id,
        buyer.person_id,
        buyer.role,
        buyer.agency_id if buyer.key_id is not None else buyer.agency(),
        request.lead_id,
        request.mode,
        request.price_cents,
        key,
        _hash(request) if key is not None else None,
    )


def purchase_lead(session: Session, buyer: Principal, request: PurchaseRequest) -> PurchaseAnswer:
    """The purchase inside the caller's transaction (a savepoint: a refusal leaves it usable)."""
    with session.begin_nested():
        return buy(session.connection(), buyer, request)


def refused(error: DBAPIError) -> MandatError | None:
    """A refusal of `buy_lead` as the caller's error; None for any other error."""
    return _refusal(error.orig)


def _refusal(orig: BaseException | None) -> MandatError | None:
    diag = getattr(orig, "diag", None)
    if getattr(orig, "sqlstate", None) in _REFUSED and diag is not None:
        facts = json.loads(diag.message_detail or "{}")
        return answer(str(diag.message_primary), facts)
    constraint = getattr(diag, "constraint_name", None)
    # The checks hold the offer's lock, so these are the constraints' second line.
    if constraint == "uq_purchase_once_per_agency":
        return answer("already_purchased", {})
    if constraint in ("uq_purchase_one_exclusive", "ck_offer_shared_cap", "ck_offer_one_mode"):
        return answer("lead_unavailable", {})
    return None


def _hash(request: PurchaseRequest) -> str:
    canonical = json.dumps(
        {"lead_id": str(request.lead_id), "mode": request.mode, "price": request.price_cents},
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
