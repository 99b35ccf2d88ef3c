"""City suggestions for the form: the communes a postal code serves."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.params import FromQuery
from msgspec import Struct

from api.contract import PUBLIC, operation
from engine.intake.flows import communes_serving


class CommuneOut(Struct):
    code: str
    name: str


class CommunesOut(Struct):
    items: list[CommuneOut]


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
