"""Public transparency: the allocation, ranking and pricing rules in force (JSON and a page)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from api.contract import BUSY, LIMITED, operation
from api.schemas import shaped
from api.transparency.schemas import TransparencyOut
from api.web.public import page
from engine.transparency import published_rules, worked_example


@get(
    "/api/v1/transparency",
    opt={"limit": "public"},
    sync_to_thread=True,
    tags=["transparency"],
    summary="Rules in force",
    **operation("readTransparency", BUSY, LIMITED),
)
def transparency() -> TransparencyOut:
    """Public. Read from the live settings and price grid."""
    return shaped(published_rules(), TransparencyOut)


@get("/transparency", sync_to_thread=True, include_in_schema=False, opt={"limit": "public"})
def transparency_page(request: Request[Any, Any, Any]) -> Template:
    """The same rules as the JSON route, for people: French or English, the grid as a table."""
    rules = published_rules()
    return page(request, "transparency.html", rules=rules, example=worked_example(rules.pricing))
