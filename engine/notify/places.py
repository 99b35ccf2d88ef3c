"""Where a lead is, as a person reads it, for the events an e-mail tells of."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Place:
    """Where a lead is, as a person reads it: `Rennes (35000)`."""

    commune: str
    postal_code: str

    def __str__(self) -> str:
        return f"{self.commune} ({self.postal_code})"


def places(session: Session, payloads: Iterable[Mapping[str, Any]]) -> dict[str, Place]:
    """The place of each lead or purchase the payloads name, by its id (as text)."""
    leads, purchases = set(), set()
    for payload in payloads:
        if payload.get("lead_id"):
            leads.add(str(payload["lead_id"]))
        if payload.get("purchase_id"):
            purchases.add(str(payload["purchase_id"]))
    if not leads and not purchases:
        return {}
    rows = session.execute(
        text("""
            SELECT l.id::text AS lead, p.id::text AS purchase, c.name, e.postal_code
            FROM lead l
            JOIN commune c ON c.code = l.commune_code
            JOIN estimation e ON e.id = l.estimation_id
            LEFT JOIN purchase p ON p.lead_id = l.id AND p.id = ANY(CAST(:purchases AS uuid[]))
            WHERE l.id = ANY(CAST(:leads AS uuid[]))
               OR l.id IN (SELECT lead_id FROM purchase
                           WHERE id = ANY(CAST(:purchases AS uuid[])))
        """),
        {"leads": sorted(leads), "purchases": sorted(purchases)},
    ).all()
    found: dict[str, Place] = {}
    for lead, purchase, commune, postal_code in rows:
        found[lead] = Place(commune, postal_code)
        if purchase:
            found[purchase] = Place(commune, postal_code)
    return found


def place_of(payload: Mapping[str, Any], known: Mapping[str, Place]) -> Place | None:
    for key in ("lead_id", "purchase_id"):
        if payload.get(key) and str(payload[key]) in known:
            return known[str(payload[key])]
    return None
