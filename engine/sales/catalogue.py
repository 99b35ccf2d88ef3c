"""The catalogue (docs/rules.md §5): the offers an agency may buy now, anonymised.

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
from engine.pagination import Page, read_cursor, write_cursor
from engine.sales.offers import PHASE_SQL
from engine.sales.read_models import Offer, OfferDetail, Project

SORTS = {
    # name: (the sort value's column in a page, direction)
    "newest": ("qualified_at", "DESC"),
    "distance": ("distance_m", "ASC"),
    "price": ("price_cents", "ASC"),
}
GRADE_ORDER = ("A", "B", "C")
_CARD = msgspec.json.Decoder()

# A page reads the agency's entries (`catalogue_entry`, one per offer it may still buy, kept by
# the database under each offer's lock: migration 0029): the sort's keyset index, the filters
# (all on the entry), cut at the page. Then each entry is re-checked against its live offer by
# primary key (`OFFSET 0` keeps it a lookup per entry of the page, never a join of the tables):
# an entry that should be gone (never expected) is dropped from the page, it never shows a wrong
# offer. "Now" is the statement's own clock. Taken from the live offer and lead:
# the mode, price, places and deadline by the clock, the grade and the contact's confirmation;
# the rest is the offer's card.
_NOW = "statement_timestamp()"
_PAGE = f"""
    SELECT page.lead_id AS id, page.created_at AS qualified_at, page.distance_m, page.reach,
           page.price_key, o.expires_at IS NOT NULL AS live,
           CASE WHEN {_NOW} < o.exclusive_until THEN 'exclusive' ELSE 'shared' END AS mode,
           CASE WHEN {_NOW} < o.exclusive_until THEN o.exclusive_price_cents
                ELSE o.shared_price_cents END AS price_cents,
           CASE WHEN {_NOW} < o.exclusive_until THEN 1
                ELSE o.shared_cap - o.shared_buyers END AS slots_left,
           CASE WHEN {_NOW} < o.exclusive_until THEN o.exclusive_until
                ELSE o.expires_at END AS offer_ends_at,
           o.grade, o.contact_confirmed_at IS NOT NULL AS contact_confirmed, o.card
    FROM ({{entries}}) page
    LEFT JOIN LATERAL (
        SELECT o.exclusive_until, o.expires_at, o.exclusive_price_cents, o.shared_price_cents,
               o.shared_cap, o.shared_buyers, o.card, l.grade, l.contact_confirmed_at
        FROM offer o JOIN lead l ON l.id = o.lead_id
        WHERE o.lead_id = page.lead_id AND o.withdrawn_at IS NULL
          AND o.exclusive_buyer IS NULL AND o.shared_buyers < o.shared_cap
          AND {_NOW} < o.expires_at
        OFFSET 0
    ) o ON TRUE
    ORDER BY {{order}}
"""
_ENTRIES = f"""
    SELECT e.lead_id, e.created_at, e.distance_m, e.reach, {{price}} AS price_key
    FROM catalogue_entry e
    WHERE e.agency_id = :agency AND e.expires_at > {_NOW}
      AND NOT (SELECT paused FROM agency WHERE id = :agency) AND {{where}}
"""
# The sort key of each sort on the entry, and the price an entry has now.
_KEYS = {"newest": "e.created_at", "distance": "e.distance_m"}
_PRICE_NOW = (
    f"CASE WHEN {_NOW} < e.exclusive_until THEN e.exclusive_price_cents"
    " ELSE e.shared_price_cents END"
)
# Cheapest first: the price depends on the clock, so the offers still exclusive (a window's
# worth, found by `exclusive_until`) and the shared ones (read in their price's index order) are
# two ordered reads, merged.
_PRICE_BRANCHES = {
    "exclusive": (f"e.exclusive_until > {_NOW}", "e.exclusive_price_cents"),
    "shared": (f"e.exclusive_until <= {_NOW}", "e.shared_price_cents"),
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
        entries, order = _by_price(query, where, keyset), "page.price_key, page.lead_id"
    else:
        key = _KEYS[query.sort]
        if keyset:
            where.append(
                f"({key}, e.lead_id) {keyset} (CAST(:after AS {_SQL_TYPE[column]}), :last)"
            )
        entries = (
            _ENTRIES.format(price=_PRICE_NOW, where=" AND ".join(where))
            + f" ORDER BY {key} {direction}, e.lead_id {direction} LIMIT :limit"
        )
        order = f"page.{key[2:]} {direction}, page.lead_id {direction}"
    rows = session.execute(text(_PAGE.format(entries=entries, order=order)), params).all()
    page = [_offer(r) for r in rows[: query.limit] if r.live]
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        value = {"qualified_at": last.qualified_at, "distance_m": last.distance_m}
        next_cursor = write_cursor(value.get(column, last.price_key), last.id)
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
        entries = _ENTRIES.format(price=price, where=" AND ".join(conditions))
        branches.append(f"({entries} ORDER BY {price}, e.lead_id LIMIT :limit)")
    return f"""
        SELECT * FROM ({" UNION ALL ".join(branches)}) priced
        ORDER BY price_key, lead_id LIMIT :limit
    """


def in_catalogue(
    session: Session, agency_id: uuid.UUID, lead_id: uuid.UUID, query: CatalogueQuery
) -> Offer | None:
    """This lead as it shows in the agency's catalogue with these filters, or None when it does
    not show there (sold out, withdrawn, expired, bought by the agency, filtered out…): the
    page's own statement, for one entry."""
    params: dict[str, Any] = {"agency": agency_id, "lead": lead_id}
    where = [*_filters(query, params), "e.lead_id = :lead"]
    entries = _ENTRIES.format(price=_PRICE_NOW, where=" AND ".join(where))
    row = session.execute(
        text(_PAGE.format(entries=entries, order="page.lead_id")), params
    ).one_or_none()
    return _offer(row) if row is not None and row.live else None


def _filters(query: CatalogueQuery, params: dict[str, Any]) -> list[str]:
    """The query's filters on the entries (their values added to `params`)."""
    where = ["TRUE"]
    if query.mode:
        where.append(_PRICE_BRANCHES[query.mode][0])
    if query.property_type:
        where.append("e.property_type = :property_type")
        params["property_type"] = query.property_type
    if query.min_grade:
        where.append("e.grade = ANY(:grades)")
        params["grades"] = list(GRADE_ORDER[: GRADE_ORDER.index(query.min_grade) + 1])
    if query.max_distance_km is not None:
        where.append("e.distance_m <= :max_m")
        params["max_m"] = query.max_distance_km * 1000
    return where


def _offer(row: Any) -> Offer:
    """A page's row (the columns of `_PAGE`, in order) and its offer's card, as the catalogue
    shows it."""
    (lead, qualified_at, distance_m, reach, _, _, mode, price, slots, ends, grade, confirmed,
     card_text) = row  # fmt: skip
    card = _CARD.decode(card_text)
    estimate = card["estimate"]
    return Offer(
        id=lead,
        mode=mode,
        price_cents=price,
        slots_left=slots,
        offer_ends_at=ends,
        qualified_at=qualified_at,
        commune=card["commune"],
        commune_code=card["commune_code"],
        postal_code=card["postal_code"],
        property=card["property"],
        estimate_mid_eur=estimate["mid_eur"],
        estimate=estimate,
        project=Project(**card["project"]),
        grade=grade,
        distance_km=round(distance_m / 1000, 1),
        reach=reach,
        location_precision=card["location_precision"],
        contact_confirmed=confirmed,
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
