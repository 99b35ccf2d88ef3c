"""Platform staff: the rules' settings, the price grid and the partners who may embed the form,
each change audited."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, get, patch, post, put
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.admin.schemas import (
    AuditPage,
    PartnerChangeIn,
    PartnerIn,
    PartnerOut,
    PriceGridOut,
    SettingsOut,
)
from api.auth import Caller, principal
from api.contract import KEYED, UNREADABLE, conflict, not_found, operation
from api.schemas import shaped
from engine.administration import (
    AuditQuery,
    audit_log,
    change_rules_settings,
    price_grid_in_force,
    publish_price_grid,
    settings_in_force,
)
from engine.partners.service import change_partner, list_partners, register_partner
from engine.pricing.grid import PriceGrid


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
        return shaped(settings_in_force(caller), SettingsOut)

    @patch(
        "/settings",
        sync_to_thread=True,
        summary="Change some settings (all or none)",
        **operation("changeSettings", *KEYED, UNREADABLE),
    )
    def change(self, caller: Caller, data: JSONBody[dict[str, Any]]) -> SettingsOut:
        """Admin. Each change is audited with its old and new value; an unknown name is a 422."""
        return shaped(change_rules_settings(caller, data), SettingsOut)

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
        query = AuditQuery(action, subject_type, subject_id, agency_id, limit, before_id)
        return shaped(audit_log(caller, query), AuditPage)

    @get(
        "/price-grid",
        sync_to_thread=True,
        summary="The price grid in force",
        **operation("readPriceGrid", *KEYED),
    )
    def grid(self, caller: Caller) -> PriceGridOut:
        return _grid(price_grid_in_force(caller))

    @put(
        "/price-grid",
        sync_to_thread=True,
        summary="Publish a new version of the price grid",
        **operation("publishPriceGrid", *KEYED, UNREADABLE),
    )
    def publish(self, caller: Caller, data: JSONBody[dict[str, Any]]) -> PriceGridOut:
        """Admin. Offers already priced keep their prices; new offers use this version."""
        return _grid(publish_price_grid(caller, data))

    @get(
        "/admin/partners",
        sync_to_thread=True,
        summary="The partners who may embed the estimation form, and their origins",
        **operation("listPartners", *KEYED),
    )
    def partners(self, caller: Caller) -> list[PartnerOut]:
        """Admin and finance."""
        return shaped(list_partners(caller), list[PartnerOut])

    @post(
        "/admin/partners",
        sync_to_thread=True,
        status_code=201,
        summary="Register a partner: the form's source slug and the origins that may frame it",
        **operation("registerPartner", *KEYED, UNREADABLE, conflict("partner_exists")),
    )
    def register(self, caller: Caller, data: JSONBody[PartnerIn]) -> PartnerOut:
        """Admin. The form page sent with `source=<slug>` may then be framed by these origins
        only; origins are HTTPS (loopback excepted). Audited."""
        partner = register_partner(caller, data.slug, data.name, data.allowed_origins)
        return shaped(partner, PartnerOut)

    @patch(
        "/admin/partners/{slug:str}",
        sync_to_thread=True,
        summary="Rename a partner or replace its allowed origins",
        **operation("changePartner", *KEYED, UNREADABLE, not_found("partner_not_found")),
    )
    def amend_partner(
        self, caller: Caller, slug: FromPath[str], data: JSONBody[PartnerChangeIn]
    ) -> PartnerOut:
        """Admin. Audited with the origins before and after."""
        partner = change_partner(caller, slug, data.name, data.allowed_origins)
        return shaped(partner, PartnerOut)


def _grid(grid: PriceGrid) -> PriceGridOut:
    return shaped({"version": grid.version, "rules": grid.to_json()}, PriceGridOut)
