"""Public transparency: the allocation, ranking and pricing rules in force (JSON and a page)."""

from __future__ import annotations

from litestar import get
from litestar.response import Template

from api.contract import BUSY, LIMITED, operation
from api.schemas import shaped
from api.transparency.schemas import TransparencyOut
from engine.transparency import published_rules


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
def transparency_page() -> Template:
    return Template(template_name="transparency.html", context={"rules": published_rules()})
