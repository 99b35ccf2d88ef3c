"""Staff preview of matching: which agencies a lead at this place would be offered to."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter

from api.auth import Caller, principal
from api.contract import KEYED, operation
from api.matching.schemas import MatchOut
from engine.matching.preview import preview_matching


@get(
    "/api/v1/admin/matching",
    sync_to_thread=True,
    dependencies={"caller": Provide(principal, sync_to_thread=True)},
    tags=["matching"],
    summary="Preview the candidate agencies for a place",
    security=[{"BearerAuth": []}],
    **operation("previewMatching", *KEYED),
)
def matching_preview(
    caller: Caller,
    postal_code: FromQuery[str],
    city: FromQuery[str] = "",
    lat: Annotated[float | None, QueryParameter(ge=-90, le=90)] = None,
    lon: Annotated[float | None, QueryParameter(ge=-180, le=180)] = None,
) -> MatchOut:
    """The ranked candidate agencies for a lead at this address (admin, finance)."""
    return MatchOut.of(preview_matching(caller, postal_code, city, lat, lon))
