"""Platform staff: the rules' settings and the price grid, each change audited."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, get, patch, put
from litestar.di import Provide
from litestar.params import FromQuery, JSONBody, QueryParameter

from api.admin.schemas import AuditPage, PriceGridOut, SettingsOut
from api.auth import Caller, principal
from api.contract import KEYED, UNREADABLE, operation
from api.schemas import shaped
from engine.audit import search
from engine.db import unit_of_work
from engine.errors import RuleViolation
from engine.pricing.grid import PriceGrid
from engine.pricing.service import current_grid, publish_grid
from engine.settings import change_settings, read_settings


class AdminController(Controller):
    path = "/api/v1"
    tags = ["administration"]
    security = [{"BearerAuth": []}]
    dependencies = {"caller": Provide(principal, sync_to_thread=True)}

    @get(
        "/settings",
        sync_to_thread=True,
        summary="The rules' settings in force",
        **operation("readSettings", *KEYED),
    )
    def settings(self, caller: Caller) -> SettingsOut:
        caller.require("admin")
        with unit_of_work() as session:
            return shaped(read_settings(session), SettingsOut)

    @patch(
        "/settings",
        sync_to_thread=True,
        summary="Change some settings (all or none)",
        **operation("changeSettings", *KEYED, UNREADABLE),
    )
    def change(self, caller: Caller, data: JSONBody[dict[str, Any]]) -> SettingsOut:
        """Admin. Each change is audited with its old and new value; an unknown name is a 422."""
        caller.require("admin")
        with unit_of_work() as session:
            return shaped(change_settings(session, caller, data), SettingsOut)

    @get(
        "/admin/audit",
        sync_to_thread=True,
        summary="The audit log, newest first",
        **operation("searchAudit", *KEYED),
    )
    def audit(
        self,
        caller: Caller,
        action: FromQuery[str | None] = None,
        subject_type: FromQuery[str | None] = None,
        subject_id: FromQuery[str | None] = None,
        agency_id: FromQuery[uuid.UUID | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        before_id: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> AuditPage:
        """Admin and finance. Who did what to which object; never personal data."""
        caller.require("admin", "finance")
        with unit_of_work() as session:
            items = search(session, action, subject_type, subject_id, agency_id, limit, before_id)
        next_before_id = items[-1]["id"] if len(items) == limit else None
        return shaped({"items": items, "next_before_id": next_before_id}, AuditPage)

    @get(
        "/price-grid",
        sync_to_thread=True,
        summary="The price grid in force",
        **operation("readPriceGrid", *KEYED),
    )
    def grid(self, caller: Caller) -> PriceGridOut:
        caller.require("admin", "finance")
        with unit_of_work() as session:
            grid = current_grid(session)
        return shaped({"version": grid.version, "rules": grid.to_json()}, PriceGridOut)

    @put(
        "/price-grid",
        sync_to_thread=True,
        summary="Publish a new version of the price grid",
        **operation("publishPriceGrid", *KEYED, UNREADABLE),
    )
    def publish(self, caller: Caller, data: JSONBody[dict[str, Any]]) -> PriceGridOut:
        """Admin. Offers already priced keep their prices; new offers use this version."""
        caller.require("admin")
        try:
            grid = PriceGrid.from_json(0, data)
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise RuleViolation.at(
                "rules", "invalid_price_grid", f"Not a price grid: {error!s}."
            ) from error
        with unit_of_work() as session:
            published = publish_grid(session, caller, grid)
        return shaped({"version": published.version, "rules": published.to_json()}, PriceGridOut)
