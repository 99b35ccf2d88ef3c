"""Public transparency: the allocation, ranking and pricing rules in force (JSON and a page)."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.response import Template

from api.contract import BUSY, operation
from engine.db import unit_of_work
from engine.transparency import rules_in_force


@get(
    "/api/v1/transparency",
    sync_to_thread=True,
    tags=["transparency"],
    summary="Rules in force",
    **operation("readTransparency", BUSY),
)
def transparency() -> dict[str, Any]:
    """Public. Read from the live settings and price grid."""
    with unit_of_work() as session:
        return rules_in_force(session)


@get("/transparency", sync_to_thread=True, include_in_schema=False)
def transparency_page() -> Template:
    with unit_of_work() as session:
        rules = rules_in_force(session)
    return Template(template_name="transparency.html", context={"rules": rules})
