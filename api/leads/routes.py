"""The agency's lead API: the catalogue, one offer, the purchase; then its purchased contacts."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from api.auth import Caller, as_buyer, as_caller, principal
from api.contract import (
    AGENCY_KEY,
    KEYED,
    UNREADABLE,
    conflict,
    not_found,
    operation,
    payment_required,
)
from api.leads.exports import purchases_csv
from api.leads.schemas import (
    OfferDetailOut,
    OfferPage,
    PurchaseIn,
    PurchaseOut,
    PurchasePage,
    PurchasePatch,
    PurchaseReceiptOut,
)
from api.schemas import shaped
from engine.sales.buy import PurchaseRequest
from engine.sales.catalogue import CatalogueQuery
from engine.sales.flows import (
    browse_catalogue,
    buy_lead,
    buy_lead_on,
    export_purchases,
    purchased_leads,
    read_offer,
    read_purchased_lead,
    work_purchased_lead,
)

Limit = Annotated[int, QueryParameter(ge=1, le=200)]


class LeadController(Controller):
    path = "/api/v1"
    tags = ["leads"]
    security = [{"BearerAuth": []}]
    dependencies = {"caller": Provide(principal, sync_to_thread=True)}

    @get(
        "/leads",
        summary="The offers your agency may buy now",
        **operation("listOffers", *KEYED, AGENCY_KEY),
    )
    async def list(
        self,
        request: Request[Any, Any, Any],
        mode: FromQuery[Literal["exclusive", "shared"] | None] = None,
        property_type: FromQuery[
            Literal["appartement", "maison", "terrain", "autre"] | None
        ] = None,
        min_grade: FromQuery[Literal["A", "B", "C"] | None] = None,
        max_distance_km: Annotated[float | None, QueryParameter(gt=0, le=100)] = None,
        sort: FromQuery[Literal["newest", "distance", "price"]] = "newest",
        limit: Limit = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> OfferPage:
        """Anonymised: commune, property, estimate, project, grade, distance, mode, price,
        slots left and deadline. Contact details come with the purchase."""
        query = CatalogueQuery(mode, property_type, min_grade, max_distance_km, sort, limit, cursor)
        page = await as_caller(request, lambda caller: browse_catalogue(caller, query))
        return shaped(page, OfferPage)

    @get(
        "/leads/{lead_id:uuid}",
        summary="One offer of your catalogue",
        **operation("readOffer", *KEYED, AGENCY_KEY, not_found("lead_not_found")),
    )
    async def read(
        self, request: Request[Any, Any, Any], lead_id: FromPath[uuid.UUID]
    ) -> OfferDetailOut:
        offer = await as_caller(request, lambda caller: read_offer(caller, lead_id))
        return shaped(offer, OfferDetailOut)

    @post(
        "/leads/{lead_id:uuid}/purchase",
        status_code=201,
        summary="Buy a lead at the price you saw",
        **operation(
            "purchaseLead",
            *KEYED,
            AGENCY_KEY,
            UNREADABLE,
            not_found("lead_not_found"),
            conflict(
                "already_purchased",
                "agency_paused",
                "lead_unavailable",
                "mode_unavailable",
                "price_changed",
                "idempotency_key_reused",
            ),
            payment_required("account_suspended", "budget_exceeded"),
        ),
    )
    async def purchase(
        self,
        request: Request[Any, Any, Any],
        lead_id: FromPath[uuid.UUID],
        data: JSONBody[PurchaseIn],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", max_length=255)
        ] = None,
    ) -> Response[PurchaseReceiptOut]:
        """Owner or buyer. The same Idempotency-Key with the same body answers the same purchase;
        with another body, 409 `idempotency_key_reused`."""
        order = PurchaseRequest(lead_id, data.mode, data.price_cents, idempotency_key)
        answer = await as_buyer(
            request,
            lambda caller: buy_lead(caller, order.checked()),
            lambda database, caller: buy_lead_on(database, caller, order.checked()),
        )
        headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
        # The stored answer, decoded once into the documented schema (no engine model between).
        receipt = msgspec.json.decode(answer.body, type=PurchaseReceiptOut)
        return Response(receipt, status_code=201, headers=headers)

    @get(
        "/purchases",
        sync_to_thread=True,
        summary="Your agency's purchased leads",
        **operation("listPurchases", *KEYED, AGENCY_KEY),
    )
    def purchases(
        self,
        caller: Caller,
        limit: Limit = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> PurchasePage:
        return shaped(purchased_leads(caller, limit, cursor), PurchasePage)

    @get(
        "/purchases.csv",
        sync_to_thread=True,
        summary="Every purchased lead as CSV, for your CRM",
        media_type="text/csv",
        **operation("exportPurchases", *KEYED, AGENCY_KEY),
    )
    def purchases_export(
        self,
        caller: Caller,
        format: Annotated[
            Literal["excel"] | None,
            QueryParameter(
                description="`excel`: as French Excel opens it (UTF-8 with BOM, semicolons, "
                "French columns and values, decimal comma); without it, the CRM layout: "
                "UTF-8, commas, English column names, ISO dates, decimal point"
            ),
        ] = None,
    ) -> Response[str]:
        excel = format == "excel"
        name = "mandat-achats.csv" if excel else "mandat-purchases.csv"
        return Response(
            purchases_csv(export_purchases(caller, format or "crm"), excel),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @get(
        "/purchases/{purchase_id:uuid}",
        sync_to_thread=True,
        summary="One purchased lead",
        **operation("readPurchase", *KEYED, AGENCY_KEY, not_found("purchase_not_found")),
    )
    def purchase_detail(self, caller: Caller, purchase_id: FromPath[uuid.UUID]) -> PurchaseOut:
        return shaped(read_purchased_lead(caller, purchase_id), PurchaseOut)

    @patch(
        "/purchases/{purchase_id:uuid}",
        sync_to_thread=True,
        summary="Pipeline status and notes of a purchased lead",
        **operation(
            "updatePurchase", *KEYED, AGENCY_KEY, UNREADABLE, not_found("purchase_not_found")
        ),
    )
    def purchase_update(
        self, caller: Caller, purchase_id: FromPath[uuid.UUID], data: JSONBody[PurchasePatch]
    ) -> PurchaseOut:
        changed = work_purchased_lead(caller, purchase_id, data.pipeline_status, data.notes)
        return shaped(changed, PurchaseOut)
