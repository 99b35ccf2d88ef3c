"""The catalogue (PRODUCT §5): the offers an agency may buy now, anonymised.

Only leads whose homeowner consented to this agency, open now (exclusive window or shared with a
slot left), not yet bought by this agency. Never a name, phone, e-mail, street or exact point:
the commune, postal code, property, estimate, project, grade and distance, and whether the
homeowner confirmed the contact is theirs ("c'est bien moi" in the confirmation e-mail).
Pages are keyset-paginated: the cursor carries the last row's sort value and id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.pagination import read_cursor, write_cursor
from engine.sales.offers import PHASE_SQL
from engine.sales.read_models import Offer, OfferDetail, Page, Project

SORTS = {
    # name: (SQL expression, direction)
    "newest": ("qualified_at", "DESC"),
    "distance": ("distance_m", "ASC"),
    "price": ("price_cents", "ASC"),
}
GRADE_ORDER = ("A", "B", "C")

_OFFERS = f"""
    SELECT o.lead_id AS id, o.created_at AS qualified_at, {PHASE_SQL} AS phase,
           CASE WHEN :now < o.exclusive_until THEN 'exclusive' ELSE 'shared' END AS mode,
           CASE WHEN :now < o.exclusive_until THEN o.exclusive_price_cents
                ELSE o.shared_price_cents END AS price_cents,
           CASE WHEN :now < o.exclusive_until THEN 1
                ELSE o.shared_cap - o.shared_buyers END AS slots_left,
           CASE WHEN :now < o.exclusive_until THEN o.exclusive_until
                ELSE o.expires_at END AS offer_ends_at,
           c.name AS commune, c.code AS commune_code, e.postal_code, e.property,
           e.property_type, e.estimate, l.timeline, l.is_owner, l.grade,
           lc.distance_m::float AS distance_m, lc.reach, e.location_precision,
           l.contact_confirmed_at IS NOT NULL AS contact_confirmed,
           EXISTS (SELECT 1 FROM purchase p
                   WHERE p.lead_id = o.lead_id AND p.agency_id = lc.agency_id) AS bought
    FROM lead_consent lc
    JOIN offer o ON o.lead_id = lc.lead_id
    JOIN lead l ON l.id = o.lead_id
    JOIN estimation e ON e.id = l.estimation_id
    JOIN commune c ON c.code = e.commune_code
    WHERE lc.agency_id = :agency AND lc.withdrawn_at IS NULL
"""


@dataclass(frozen=True)
class CatalogueQuery:
    mode: str | None = None
    property_type: str | None = None
    min_grade: str | None = None
    max_distance_km: float | None = None
    sort: str = "newest"
    limit: int = 50
    cursor: str | None = None


def catalogue(session: Session, agency_id: uuid.UUID, query: CatalogueQuery) -> Page[Offer]:
    """A page of offers and the cursor of the next page (None on the last page)."""
    column, direction = SORTS[query.sort]
    params: dict[str, Any] = {"agency": agency_id, "now": _now(session), "limit": query.limit + 1}
    where = _filters(query, params)
    if query.cursor:
        value, last_id = read_cursor(query.cursor, datetime if column == "qualified_at" else float)
        comparison = "<" if direction == "DESC" else ">"
        where.append(f"({column}, id) {comparison} (CAST(:after AS {_SQL_TYPE[column]}), :last)")
        params.update(after=value, last=last_id)
    rows = (
        session.execute(
            text(f"""
                SELECT * FROM ({_OFFERS}) offers
                WHERE {" AND ".join(where)}
                ORDER BY {column} {direction}, id {direction}
                LIMIT :limit
            """),
            params,
        )
        .mappings()
        .all()
    )
    page = [Offer(**_fields(r)) for r in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        next_cursor = write_cursor(last[column], last["id"])
    return Page(page, next_cursor)


def in_catalogue(
    session: Session, agency_id: uuid.UUID, lead_id: uuid.UUID, query: CatalogueQuery
) -> Offer | None:
    """This lead as it shows in the agency's catalogue with these filters, or None when it does
    not show there (sold out, withdrawn, expired, bought by the agency, filtered out…)."""
    params: dict[str, Any] = {"agency": agency_id, "now": _now(session), "lead": lead_id}
    where = _filters(query, params)
    row = (
        session.execute(
            text(f"""
                SELECT * FROM ({_OFFERS} AND o.lead_id = :lead) offers
                WHERE {" AND ".join(where)}
            """),
            params,
        )
        .mappings()
        .one_or_none()
    )
    return Offer(**_fields(row)) if row is not None else None


def _filters(query: CatalogueQuery, params: dict[str, Any]) -> list[str]:
    """The WHERE conditions of the catalogue's offers: open, not bought, the agency not paused,
    and the query's filters (their values added to `params`)."""
    where = [
        "phase IN ('offered_exclusive', 'offered_shared')",
        "NOT bought",
        "NOT (SELECT paused FROM agency WHERE id = :agency)",
    ]
    if query.mode:
        where.append("mode = :mode")
        params["mode"] = query.mode
    if query.property_type:
        where.append("property_type = :property_type")
        params["property_type"] = query.property_type
    if query.min_grade:
        where.append("grade = ANY(:grades)")
        params["grades"] = list(GRADE_ORDER[: GRADE_ORDER.index(query.min_grade) + 1])
    if query.max_distance_km is not None:
        where.append("distance_m <= :max_m")
        params["max_m"] = query.max_distance_km * 1000
    return where


def offer_for(session: Session, agency_id: uuid.UUID, lead_id: uuid.UUID) -> OfferDetail:
    """One lead of the agency's catalogue, whatever its phase (sold out, expired…), or 404."""
    row = (
        session.execute(
            text(f"SELECT * FROM ({_OFFERS} AND o.lead_id = :lead) offers"),
            {"agency": agency_id, "lead": lead_id, "now": _now(session)},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound("No lead with this id is offered to your agency.", code="lead_not_found")
    return OfferDetail(**_fields(row), phase=row["phase"], purchased=row["bought"])


_SQL_TYPE = {"qualified_at": "timestamptz", "distance_m": "float8", "price_cents": "bigint"}


def _fields(row: Any) -> dict[str, Any]:
    estimate = row["estimate"]
    return {
        "id": row["id"],
        "mode": row["mode"],
        "price_cents": row["price_cents"],
        "slots_left": row["slots_left"],
        "offer_ends_at": row["offer_ends_at"],
        "qualified_at": row["qualified_at"],
        "commune": row["commune"],
        "commune_code": row["commune_code"],
        "postal_code": row["postal_code"],
        "property": row["property"],
        "estimate_mid_eur": estimate.get("mid_eur"),
        "estimate": {
            k: estimate.get(k)
            for k in ("low_eur", "mid_eur", "high_eur", "confidence", "synthetic")
        },
        "project": Project(row["timeline"], row["is_owner"]),
        "grade": row["grade"],
        "distance_km": round(row["distance_m"] / 1000, 1),
        "reach": row["reach"],
        "location_precision": row["location_precision"],
        "contact_confirmed": row["contact_confirmed"],
    }


def _now(session: Session) -> Any:
    return session.execute(text("SELECT clock_timestamp()")).scalar_one()
