"""The catalogue (PRODUCT §5): the offers an agency may buy now, anonymised.

Only leads whose homeowner consented to this agency, open now (exclusive window or shared with a
slot left), not yet bought by this agency. Never a name, phone, e-mail, street or exact point:
the commune, postal code, property, estimate, project, grade and distance, and whether the
homeowner confirmed the contact is theirs ("c'est bien moi" in the confirmation e-mail).
Pages are keyset-paginated: the cursor carries the last row's sort value and id. A page costs
what its rows cost, whatever the agency's history (docs/scaling.md, "The catalogue").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.pagination import read_cursor, write_cursor
from engine.sales.offers import PHASE_SQL
from engine.sales.read_models import Offer, OfferDetail, Page, Project

SORTS = {
    # name: (the sort value's column in a page, direction)
    "newest": ("qualified_at", "DESC"),
    "distance": ("distance_m", "ASC"),
    "price": ("price_cents", "ASC"),
}
GRADE_ORDER = ("A", "B", "C")
_CARD = msgspec.json.Decoder()

# A page reads the agency's entries (`catalogue_entry`, one per offer it may still buy, kept by
# the database under each offer's lock: migration 0029) through the sort's keyset index, and
# re-checks each one against its live offer by primary key: an entry that should be gone never
# shows a wrong offer. The clock is read once, inside the statement. Columns taken from the
# live offer and lead: the mode, price, places and deadline by the clock, the grade (it rises when
# the homeowner confirms their contact) and the confirmation; the rest is the offer's card.
_CLOCK = "WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS now)"
_COLUMNS = """
    e.lead_id AS id, e.created_at AS qualified_at,
    CASE WHEN clock.now < o.exclusive_until THEN 'exclusive' ELSE 'shared' END AS mode,
    CASE WHEN clock.now < o.exclusive_until THEN o.exclusive_price_cents
         ELSE o.shared_price_cents END AS price_cents,
    CASE WHEN clock.now < o.exclusive_until THEN 1
         ELSE o.shared_cap - o.shared_buyers END AS slots_left,
    CASE WHEN clock.now < o.exclusive_until THEN o.exclusive_until
         ELSE o.expires_at END AS offer_ends_at,
    e.distance_m, e.reach, l.grade, l.contact_confirmed_at IS NOT NULL AS contact_confirmed,
    o.card
"""
_ENTRIES = """
    FROM clock, catalogue_entry e
    JOIN offer o ON o.lead_id = e.lead_id
    JOIN lead l ON l.id = e.lead_id
    WHERE e.agency_id = :agency AND e.expires_at > clock.now
      AND o.withdrawn_at IS NULL AND o.exclusive_buyer IS NULL
      AND o.shared_buyers < o.shared_cap AND clock.now < o.expires_at
      AND NOT (SELECT paused FROM agency WHERE id = :agency)
"""
# Cheapest first: the price depends on the clock, so the offers still exclusive (a window's
# worth, found by `exclusive_until`) and the shared ones (read in their price's index order) are
# two ordered reads, merged.
_PRICE_BRANCHES = {
    "exclusive": ("e.exclusive_until > clock.now", "e.exclusive_price_cents"),
    "shared": ("e.exclusive_until <= clock.now", "e.shared_price_cents"),
}


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
    """A page of offers and the cursor of the next page (None on the last page): one statement
    that reads the page's entries, not the agency's history."""
    column, direction = SORTS[query.sort]
    params: dict[str, Any] = {"agency": agency_id, "limit": query.limit + 1}
    where = _filters(query, params)
    keyset = None
    if query.cursor:
        value, last_id = read_cursor(query.cursor, datetime if column == "qualified_at" else float)
        keyset = "<" if direction == "DESC" else ">"
        params.update(after=value, last=last_id)
    if query.sort == "price":
        statement = _by_price(query, where, keyset)
    else:
        key = {"newest": "e.created_at", "distance": "e.distance_m"}[query.sort]
        if keyset:
            where.append(
                f"({key}, e.lead_id) {keyset} (CAST(:after AS {_SQL_TYPE[column]}), :last)"
            )
        statement = f"""
            {_CLOCK} SELECT {_COLUMNS} {_ENTRIES} AND {" AND ".join(where)}
            ORDER BY {key} {direction}, e.lead_id {direction} LIMIT :limit
        """
    rows = session.execute(text(statement), params).all()
    page = [_offer(r) for r in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]._mapping
        next_cursor = write_cursor(last[column], last["id"])
    return Page(page, next_cursor)


def _by_price(query: CatalogueQuery, where: list[str], keyset: str | None) -> str:
    """Both ordered reads (or the one the mode filter leaves), merged, cut at the page."""
    branches = []
    for mode, (window, price) in _PRICE_BRANCHES.items():
        if query.mode and query.mode != mode:
            continue
        conditions = [*where, window]
        if keyset:
            conditions.append(f"({price}, e.lead_id) {keyset} (CAST(:after AS bigint), :last)")
        branches.append(f"""
            (SELECT {_COLUMNS} {_ENTRIES} AND {" AND ".join(conditions)}
             ORDER BY {price}, e.lead_id LIMIT :limit)
        """)
    return f"""
        {_CLOCK} SELECT * FROM ({" UNION ALL ".join(branches)}) page
        ORDER BY price_cents, id LIMIT :limit
    """


def in_catalogue(
    session: Session, agency_id: uuid.UUID, lead_id: uuid.UUID, query: CatalogueQuery
) -> Offer | None:
    """This lead as it shows in the agency's catalogue with these filters, or None when it does
    not show there (sold out, withdrawn, expired, bought by the agency, filtered out…): the
    page's own statement, for one entry."""
    params: dict[str, Any] = {"agency": agency_id, "lead": lead_id}
    where = _filters(query, params)
    row = session.execute(
        text(f"""
            {_CLOCK} SELECT {_COLUMNS} {_ENTRIES}
            AND e.lead_id = :lead AND {" AND ".join(where)}
        """),
        params,
    ).one_or_none()
    return _offer(row) if row is not None else None


def _filters(query: CatalogueQuery, params: dict[str, Any]) -> list[str]:
    """The query's filters on the entries (their values added to `params`)."""
    where = ["TRUE"]
    if query.mode:
        window = _PRICE_BRANCHES[query.mode][0]
        where.append(window)
    if query.property_type:
        where.append("e.property_type = :property_type")
        params["property_type"] = query.property_type
    if query.min_grade:
        where.append("l.grade = ANY(:grades)")
        params["grades"] = list(GRADE_ORDER[: GRADE_ORDER.index(query.min_grade) + 1])
    if query.max_distance_km is not None:
        where.append("e.distance_m <= :max_m")
        params["max_m"] = query.max_distance_km * 1000
    return where


def _offer(row: Any) -> Offer:
    """A page's row and its offer's card, as the catalogue shows it."""
    card = _CARD.decode(row.card)
    return Offer(
        id=row.id,
        mode=row.mode,
        price_cents=row.price_cents,
        slots_left=row.slots_left,
        offer_ends_at=row.offer_ends_at,
        qualified_at=row.qualified_at,
        commune=card["commune"],
        commune_code=card["commune_code"],
        postal_code=card["postal_code"],
        property=card["property"],
        estimate_mid_eur=card["estimate"]["mid_eur"],
        estimate=card["estimate"],
        project=Project(**card["project"]),
        grade=row.grade,
        distance_km=round(row.distance_m / 1000, 1),
        reach=row.reach,
        location_precision=card["location_precision"],
        contact_confirmed=row.contact_confirmed,
    )


# Expired entries are hidden by the clock at read time; this removes them, a batch at a time,
# waiting on no lock (an entry a writer holds goes with the next run).
_PURGE = text("""
    DELETE FROM catalogue_entry e
    USING (SELECT agency_id, lead_id FROM catalogue_entry
           WHERE expires_at <= clock_timestamp()
           LIMIT :batch FOR UPDATE SKIP LOCKED) expired
    WHERE e.agency_id = expired.agency_id AND e.lead_id = expired.lead_id
""")


def purge_expired(session: Session, batch: int = 10_000) -> int:
    """Remove up to `batch` entries of offers past their `expires_at`: how many were removed."""
    return int(session.execute(_PURGE, {"batch": batch}).rowcount)  # type: ignore[attr-defined]


# One offer whatever its phase (sold out, expired, bought…): read from the live rows, by key.
_OFFER = f"""
    SELECT o.lead_id AS id, o.created_at AS qualified_at, {PHASE_SQL.replace(":now", "clock.now")}
           AS phase,
           CASE WHEN clock.now < o.exclusive_until THEN 'exclusive' ELSE 'shared' END AS mode,
           CASE WHEN clock.now < o.exclusive_until THEN o.exclusive_price_cents
                ELSE o.shared_price_cents END AS price_cents,
           CASE WHEN clock.now < o.exclusive_until THEN 1
                ELSE o.shared_cap - o.shared_buyers END AS slots_left,
           CASE WHEN clock.now < o.exclusive_until THEN o.exclusive_until
                ELSE o.expires_at END AS offer_ends_at,
           c.name AS commune, c.code AS commune_code, e.postal_code, e.property,
           e.estimate, l.timeline, l.is_owner, l.grade,
           lc.distance_m::float AS distance_m, lc.reach, e.location_precision,
           l.contact_confirmed_at IS NOT NULL AS contact_confirmed,
           EXISTS (SELECT 1 FROM purchase p
                   WHERE p.lead_id = o.lead_id AND p.agency_id = lc.agency_id) AS bought
    FROM (SELECT clock_timestamp() AS now) clock, lead_consent lc
    JOIN offer o ON o.lead_id = lc.lead_id
    JOIN lead l ON l.id = o.lead_id
    JOIN estimation e ON e.id = l.estimation_id
    JOIN commune c ON c.code = e.commune_code
    WHERE lc.agency_id = :agency AND lc.lead_id = :lead AND lc.withdrawn_at IS NULL
"""


def offer_for(session: Session, agency_id: uuid.UUID, lead_id: uuid.UUID) -> OfferDetail:
    """One lead of the agency's catalogue, whatever its phase (sold out, expired…), or 404."""
    row = (
        session.execute(text(_OFFER), {"agency": agency_id, "lead": lead_id})
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
