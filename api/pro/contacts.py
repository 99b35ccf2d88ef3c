"""Espace Pro: buying a lead from the inbox (asked once, an Idempotency-Key so a double click
never buys twice), the agency's contacts, and one contact's page (call, e-mail, stage, notes).
The same `engine.sales.flows` services as the API, with the person as the caller."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from msgspec import Struct

from api.leads.exports import purchases_csv
from api.pro import web
from api.pro.web import FormOf
from engine.crm import flows
from engine.errors import Conflict, Forbidden, NotFound, PaymentRequired, RuleViolation
from engine.people.sessions import SignedIn
from engine.refunds.models import REASONS
from engine.sales.buy import PurchaseRequest
from engine.sales.flows import (
    buy_lead,
    export_purchases,
    purchased_leads,
    read_offer,
    work_purchased_lead,
)

PARIS = ZoneInfo("Europe/Paris")


class BuyForm(Struct):
    mode: str = ""
    price_cents: int = 0
    attempt: str = ""  # the Idempotency-Key: one per confirmation page shown
    csrf: str = ""


class StageForm(Struct):
    pipeline_status: str = ""
    notes: str = ""
    csrf: str = ""


def contact_page(
    request: Request[Any, Any, Any],
    person: SignedIn,
    purchase_id: uuid.UUID,
    status: int = 200,
    errors: dict[str, str] | None = None,
    **context: Any,
) -> Response[Any]:
    try:
        file = flows.read_contact_file(person.caller, purchase_id)
    except NotFound:
        return web.render(request, "not_found.html", person, 404)
    done = request.query_params.get("done", "")
    return web.render(
        request, "contact.html", person, status, lead=file.lead, file=file, errors=errors or {},
        done=done, reasons=REASONS, today=datetime.now(PARIS).date(), paris=PARIS, **context,
    )  # fmt: skip


class ContactPages(Controller):
    path = "/pro"
    include_in_schema = False

    @get("/leads/{lead_id:uuid}/buy", sync_to_thread=True)
    def confirm_page(
        self, request: Request[Any, Any, Any], lead_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        try:
            offer = read_offer(person.caller, lead_id)
        except NotFound:
            return web.render(request, "not_found.html", person, 404)
        return web.render(request, "buy.html", person, offer=offer, attempt=str(uuid.uuid4()))

    @post("/leads/{lead_id:uuid}/buy", sync_to_thread=True, status_code=303)
    def buy(
        self, request: Request[Any, Any, Any], lead_id: FromPath[uuid.UUID], data: FormOf[BuyForm]
    ) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        order = PurchaseRequest(lead_id, data.mode, data.price_cents, f"pro:{data.attempt[:64]}")
        try:
            answer = buy_lead(person.caller, order)
        except NotFound:
            return web.render(request, "not_found.html", person, 404)
        except (Conflict, PaymentRequired, Forbidden, RuleViolation) as refused:
            status = {Conflict: 409, PaymentRequired: 402, Forbidden: 403}.get(type(refused), 422)
            offer = read_offer(person.caller, lead_id)
            return web.render(
                request, "buy.html", person, status, offer=offer, attempt=str(uuid.uuid4()),
                refused=refused.code,
            )  # fmt: skip
        contact = f"/pro/contacts/{answer.receipt.purchase_id}?bought=1"
        if request.headers.get("hx-request"):  # htmx: the browser goes there itself
            return Response(b"", status_code=200, headers={"HX-Redirect": contact})
        return Redirect(contact, status_code=303)

    @get("/contacts", sync_to_thread=True)
    def contacts(
        self, request: Request[Any, Any, Any], cursor: FromQuery[str] = ""
    ) -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        page = purchased_leads(person.caller, 50, cursor or None)
        return web.render(request, "contacts.html", person, page=page, first_page=not cursor)

    @get("/contacts.csv", sync_to_thread=True)
    def contacts_for_excel(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Every contact of the agency as French Excel opens it (audited, like the API's)."""
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        return Response(
            purchases_csv(export_purchases(person.caller, "excel"), excel=True),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="mandat-achats.csv"',
                "Cache-Control": "no-store",
            },
        )

    @get("/contacts/{purchase_id:uuid}", sync_to_thread=True)
    def contact(
        self,
        request: Request[Any, Any, Any],
        purchase_id: FromPath[uuid.UUID],
        bought: FromQuery[str] = "",
    ) -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        saved = request.query_params.get("saved") == "1"
        return contact_page(request, person, purchase_id, bought=bool(bought), saved=saved)

    @post("/contacts/{purchase_id:uuid}/stage", sync_to_thread=True, status_code=303)
    def stage(
        self,
        request: Request[Any, Any, Any],
        purchase_id: FromPath[uuid.UUID],
        data: FormOf[StageForm],
    ) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            work_purchased_lead(
                person.caller, purchase_id, data.pipeline_status or None, data.notes
            )
        except (Forbidden, RuleViolation):
            return web.render(request, "refused.html", person, 403)
        except NotFound:
            return web.render(request, "not_found.html", person, 404)
        return Redirect(f"/pro/contacts/{purchase_id}?saved=1", status_code=303)
