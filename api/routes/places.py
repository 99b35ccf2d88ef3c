"""Suggestions for the form: the communes a postal code serves, and the streets of the BAN."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.params import FromQuery
from msgspec import Struct

from api.contract import PUBLIC, operation
from engine.intake.flows import communes_serving, streets_matching


class CommuneOut(Struct):
    code: str
    name: str


class CommunesOut(Struct):
    items: list[CommuneOut]


class StreetOut(Struct):
    label: str
    street: str
    postal_code: str | None
    city: str
    synthetic: bool


class StreetsOut(Struct):
    items: list[StreetOut]


@get(
    "/api/v1/communes",
    opt={"limit": "public"},
    sync_to_thread=True,
    tags=["estimation form"],
    summary="The communes a postal code serves (city suggestions)",
    cache_control=CacheControlHeader(max_age=3600, public=True),
    **operation("listCommunes", *PUBLIC),
)
def communes(postal_code: FromQuery[str]) -> CommunesOut:
    """Public. An unknown or malformed postal code answers an empty list: the form then says so."""
    return CommunesOut([CommuneOut(code, name) for code, name in communes_serving(postal_code)])


@get(
    "/api/v1/places/streets",
    opt={"limit": "public"},
    sync_to_thread=True,
    tags=["estimation form"],
    summary="The streets whose name matches what was typed (street suggestions)",
    cache_control=CacheControlHeader(max_age=300, public=True),
    **operation("listStreets", *PUBLIC),
)
def streets(
    postal_code: FromQuery[str], q: FromQuery[str], city: FromQuery[str] = ""
) -> StreetsOut:
    """Public. At most 8 streets or lieux-dits of the communes the postal code serves (the city's
    when `city` names one), best first; `label` keeps the number typed in `q` ("12 bd volt" →
    "12 Boulevard Voltaire"). Empty for fewer than two letters, an unknown postal code, or where
    the national address base is not loaded: the street is then typed freely."""
    return StreetsOut(
        [
            StreetOut(s.label, s.street, s.postal_code, s.city, s.synthetic)
            for s in streets_matching(postal_code, q, city)
        ]
    )
