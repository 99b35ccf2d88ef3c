"""The street a homeowner typed → a point, against the imported BAN; and the streets to suggest.

A property is placed at its address point when the number is found on the street (a typed "12B"
prefers 12 bis, then 12 b, then plain 12), at the centre of its street when only the street is,
and otherwise stays at the town hall `locate` found. The street is looked for in the commune
named, then in the other arrondissements of its city (a boulevard crosses several), by its
comparable words, then by trigram similarity to forgive a typo. Without a BAN loaded nothing is
found and the town hall stands.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.geo.gazetteer import POSTAL_CODE, gazetteer
from engine.geo.locate import Place
from engine.geo.names import city_matches
from engine.geo.street_names import parse_street

# How alike a typed street must be to a BAN street (pg_trgm similarity of their words) to be
# taken for it when the words differ: a letter or two wrong, a word missing.
SIMILAR = 0.55
SUGGESTIONS = 8

# The street in the communes given (the exact words first, then the most alike, in the commune
# named first, then the longest), and its point; with the typed number, that number's point on
# it in every commune it crosses (the wanted index first, then none, then any), if there is one.
_STREET = text("""
    SELECT s.lon, s.lat, n.lon AS number_lon, n.lat AS number_lat
    FROM (SELECT s.search_key, ST_X(s.location::geometry) AS lon,
                 ST_Y(s.location::geometry) AS lat
          FROM ban_street s
          WHERE s.commune_code = ANY(:communes)
            AND (s.search_key = :key OR similarity(s.search_key, :key) >= :similar)
          ORDER BY s.search_key = :key DESC, similarity(s.search_key, :key) DESC,
                   s.commune_code = :commune DESC, s.addresses DESC
          LIMIT 1) AS s
    LEFT JOIN LATERAL (
        SELECT ST_X(a.location::geometry) AS lon, ST_Y(a.location::geometry) AS lat
        FROM ban_address a
        WHERE a.commune_code = ANY(:communes) AND a.number = :number
          AND (a.street_key = s.search_key OR a.lieu_dit_key = s.search_key)
        ORDER BY coalesce(array_position(CAST(:reps AS text[]), a.rep), 99),
                 a.commune_code = :commune DESC, a.rep, a.id
        LIMIT 1
    ) AS n ON true
""")


def place_at_street(session: Session, place: Place, street: str | None) -> Place:
    """The place moved to the typed address's point, or its street's, when the BAN knows them:
    one round trip when a street is typed, none otherwise."""
    typed = parse_street(street or "")
    if not typed.key:
        return place
    communes = [place.commune_code]
    if place.parent_code:
        # The other arrondissements of Paris, Lyon or Marseille: a boulevard crosses several.
        siblings = gazetteer(session).arrondissements.get(place.parent_code, ())
        communes += [code for code in siblings if code != place.commune_code]
    found = (
        session.execute(
            _STREET,
            {
                "communes": communes,
                "commune": place.commune_code,
                "key": typed.key,
                "similar": SIMILAR,
                "number": typed.number,
                "reps": list(typed.reps),
            },
        )
        .mappings()
        .first()
    )
    if found is None:
        return place
    if found["number_lon"] is not None:
        return replace(place, lon=found["number_lon"], lat=found["number_lat"], precision="address")
    return replace(place, lon=found["lon"], lat=found["lat"], precision="street")


@dataclass(frozen=True)
class StreetSuggestion:
    label: str  # what the street field takes: the typed number and the street's name
    street: str
    postal_code: str | None
    city: str
    synthetic: bool


_SUGGEST = text("""
    SELECT s.name, s.postal_code, c.name AS city, s.synthetic
    FROM ban_street s JOIN commune c ON c.code = s.commune_code
    WHERE s.commune_code = ANY(:communes)
      AND (s.search_key LIKE :prefix OR s.search_key LIKE :inner
           OR word_similarity(:key, s.search_key) >= 0.6)
    ORDER BY s.search_key LIKE :prefix DESC, s.search_key LIKE :inner DESC,
             word_similarity(:key, s.search_key) DESC, s.postal_code = :postal_code DESC,
             s.addresses DESC, s.name
    LIMIT :limit
""")

_POSTAL_COMMUNES = text("""
    SELECT c.code, c.search_name FROM postal_code p JOIN commune c ON c.code = p.commune_code
    WHERE p.postal_code = :postal_code
""")


def suggest_streets(
    session: Session, postal_code: str, typed: str, city: str = ""
) -> list[StreetSuggestion]:
    """The streets of the communes a postal code serves (the city's, when one is named) whose
    name starts with, contains or resembles what was typed; none before two letters."""
    code = postal_code.strip()
    address = parse_street(typed)
    if not POSTAL_CODE.match(code) or len(address.key) < 2:
        return []
    communes = session.execute(_POSTAL_COMMUNES, {"postal_code": code}).all()
    named = [c.code for c in communes if city and city_matches(city, c.search_name)]
    like = address.key.replace("\\", "").replace("%", "").replace("_", "")
    rows = session.execute(
        _SUGGEST,
        {
            "communes": named or [c.code for c in communes],
            "key": address.key,
            "prefix": f"{like}%",
            "inner": f"% {like}%",
            "postal_code": code,
            "limit": SUGGESTIONS,
        },
    ).all()
    number = (
        f"{address.number}{' ' + address.rep if address.rep else ''} " if address.number else ""
    )
    return [
        StreetSuggestion(f"{number}{r.name}", r.name, r.postal_code, r.city, r.synthetic)
        for r in rows
    ]
