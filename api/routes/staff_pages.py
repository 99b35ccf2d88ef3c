"""Staff pages: the finance refund queue, server-rendered (Litestar templates), no build step.

A clerk is a person of Mandat's staff (role finance): they sign in at /pro/login like agency
people, on the same server-side sessions (30 minutes idle, 12 hours at most, ended for good at
sign-out). The queue lists pending requests oldest first with
each agency's refund rate next to the median; a request's page shows the request, the purchase
and lead, the call attempts and the agency's history, and a form to approve (in full or in part)
or reject with a note. Works with the keyboard alone.
"""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from api.pro import web
from engine.agencies import applications as joining
from engine.errors import Conflict, MandatError, RuleViolation
from engine.money import format_euros as euros
from engine.money import parse_euros
from engine.people import service
from engine.people.sessions import StaffSignedIn
from engine.refunds.flows import decide_refund
from engine.refunds.queue import refund_case, refund_queue
from engine.refunds.read_models import RefundRequestRecord

STATUSES = [("pending", "À décider"), ("approved", "Acceptées"), ("rejected", "Refusées")]
REASONS_FR = {
    "unreachable": "injoignable",
    "wrong_number": "mauvais numéro",
    "not_owner": "pas propriétaire",
    "fake": "faux contact",
    "already_sold_or_under_mandate": "déjà vendu ou sous mandat",
    "duplicate": "doublon",
    "out_of_zone": "hors zone",
    "other": "autre",
    "not_me": "le propriétaire dit ne pas avoir fait la demande",
}
NO_STORE = {"Cache-Control": "no-store"}
PARIS = ZoneInfo("Europe/Paris")


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %".replace(".", ",")


def _staff(request: Request[Any, Any, Any], role: str) -> StaffSignedIn | Response[Any]:
    """The staff member of this role the browser's session belongs to, or the answer to send
    instead: another role, or an agency person signed in to Espace Pro, gets a page that does
    not exist for them (never a loop through the sign-in page); no one, the sign-in page,
    coming back here."""
    staff = service.current_staff(web.token_of(request))
    if staff is not None and staff.role == role:
        return staff
    person = web.person_of(request) if staff is None else None
    if staff is not None or person is not None:
        return web.render(request, "not_found.html", person, 404)
    return web.to_sign_in(request)


def _page(name: str, status: int = 200, **context: Any) -> Template:
    return Template(template_name=name, context=context, status_code=status, headers=NO_STORE)


@get(["/staff", "/finance", "/finance/login", "/finance/refunds"], include_in_schema=False)
async def staff_home() -> Redirect:
    """The staff pages' home; the finance pages' old addresses lead here."""
    return Redirect("/staff/refunds")


@get("/finance/refunds/{request_id:uuid}", include_in_schema=False)
async def old_request_page(request_id: FromPath[uuid.UUID]) -> Redirect:
    return Redirect(f"/staff/refunds/{request_id}")


@post("/staff/logout", include_in_schema=False, sync_to_thread=True, status_code=303)
def logout(request: Request[Any, Any, Any], data: URLEncodedBody[dict[str, str]]) -> Redirect:
    """Ends the session in the database, not only in this browser: a copied cookie dies too."""
    staff = service.current_staff(web.token_of(request))
    if staff is None or not web.csrf_ok(staff, data.get("csrf")):
        return Redirect("/staff/refunds", status_code=303)
    service.sign_out(web.token_of(request) or "")
    redirect = Redirect("/pro/login", status_code=303)
    web.signed_out_response(redirect)
    return redirect


@get("/staff/refunds", include_in_schema=False, sync_to_thread=True)
def queue(
    request: Request[Any, Any, Any],
    status: FromQuery[str] = "pending",
    decided: FromQuery[str | None] = None,
) -> Response[Any]:
    clerk = _staff(request, "finance")
    if not isinstance(clerk, StaffSignedIn):
        return clerk
    status = status if status in dict(STATUSES) else "pending"
    found = refund_queue(clerk.caller, status)
    page, names = found.page, found.agency_names
    return _page(
        "finance_queue.html",
        items=[_queue_row(item, names) for item in page.items],
        current=status,
        statuses=STATUSES,
        median=_percent(page.median_refund_rate),
        decided=decided,
        signed_in=True,
        csrf=web.csrf_for(clerk),
    )


def _queue_row(item: RefundRequestRecord, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "id": item.id,
        "created": item.created_at.strftime("%d/%m/%Y %H:%M"),
        "agency": names.get(item.agency_id, "?"),
        "reason": REASONS_FR[item.reason],
        "price": euros(item.price_cents),
        "rate": _percent(item.agency_refund_rate),
        "review": "taux élevé" if item.review_reason else "",
    }


def _detail(
    request_id: uuid.UUID, clerk: StaffSignedIn, errors: list[str], status: int
) -> Response[Any]:
    case = refund_case(clerk.caller, request_id)
    if case is None:
        return _page(
            "finance_queue.html",
            404,
            items=[],
            statuses=STATUSES,
            current="",
            median="—",
            signed_in=True,
            csrf=web.csrf_for(clerk),
        )
    row, prop = case.request, case.property
    r = {
        "id": row.id,
        "short": str(row.id)[:8],
        "status": {"pending": "à décider", "approved": "acceptée", "rejected": "refusée"}[
            row.status
        ],
        "pending": row.status == "pending",
        "review": "taux de remboursement élevé" if row.review_reason else "",
        "created": row.created_at.strftime("%d/%m/%Y %H:%M"),
        "reason": REASONS_FR[row.reason],
        "comment": row.comment,
        "calls": row.call_attempts,
        "decided": row.decided_at is not None,
        "rule": row.decision_rule,
        "note": row.decision_note,
        "amount": euros(row.approved_amount_cents) if row.approved_amount_cents else "",
    }
    p = {
        "bought": case.bought_at.strftime("%d/%m/%Y %H:%M"),
        "mode": "exclusif" if case.mode == "exclusive" else "partagé",
        "price": euros(row.price_cents),
        "refunded": euros(case.refunded_cents),
        "refundable": euros(case.refundable_cents),
        "commune": case.commune,
        "postal_code": case.postal_code,
        "property": f"{prop.get('type')}, {prop.get('surface_m2')} m², {prop.get('rooms')} pièces",
        "grade": case.grade,
        "score": case.score,
        "reach": case.allocation.get("reach"),
        "distance": f"{case.allocation.get('distance_m', 0) / 1000:.1f} km".replace(".", ","),
    }
    a = {
        "name": case.agency_name,
        "rate": _percent(case.agency_refund_rate),
        "median": _percent(case.median_refund_rate),
        "requests": case.agency_requests,
        "approved": case.agency_approved,
    }
    return _page(
        "finance_request.html",
        status,
        r=r,
        p=p,
        a=a,
        errors=errors,
        signed_in=True,
        csrf=web.csrf_for(clerk),
    )


@get("/staff/refunds/{request_id:uuid}", include_in_schema=False, sync_to_thread=True)
def request_page(request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID]) -> Response[Any]:
    clerk = _staff(request, "finance")
    if not isinstance(clerk, StaffSignedIn):
        return clerk
    return _detail(request_id, clerk, [], 200)


@post(
    "/staff/refunds/{request_id:uuid}/decision",
    include_in_schema=False,
    sync_to_thread=True,
    status_code=303,
)
def decide_page(
    request: Request[Any, Any, Any],
    request_id: FromPath[uuid.UUID],
    data: URLEncodedBody[dict[str, str]],
) -> Response[Any]:
    clerk = _staff(request, "finance")
    if not isinstance(clerk, StaffSignedIn):
        return clerk
    if not web.csrf_ok(clerk, data.get("csrf")):
        return _detail(request_id, clerk, ["Le formulaire a expiré : rechargez la page."], 403)
    amount, errors = _read_decision(data)
    if errors:
        return _detail(request_id, clerk, errors, 422)
    try:
        decide_refund(clerk.caller, request_id, data["decision"], amount, data.get("note") or "")
    except RuleViolation as error:
        return _detail(request_id, clerk, [e.message for e in error.errors], 422)
    except MandatError as error:
        return _detail(request_id, clerk, [error.message], 409)
    return Redirect(f"/staff/refunds?decided={request_id}", status_code=303)


def _read_decision(data: dict[str, str]) -> tuple[int | None, list[str]]:
    """The amount typed (cents, or None for the whole refundable amount) and what is wrong."""
    amount, errors = None, []
    raw = (data.get("amount") or "").strip()
    if raw:
        try:
            amount = parse_euros(raw)
        except ValueError:
            errors.append("Le montant se lit en euros, par exemple 15,50.")
    if data.get("decision") not in ("approve", "reject"):
        errors.append("Choisissez Accepter ou Refuser.")
    return amount, errors


APPLICATION_STATUSES = [
    ("pending", "À décider"),
    ("approved", "Acceptées"),
    ("refused", "Refusées"),
]


def _when(at: Any) -> str:
    return str(at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M"))


@get("/staff/applications", include_in_schema=False, sync_to_thread=True)
def applications_page(
    request: Request[Any, Any, Any],
    status: FromQuery[str] = "pending",
    decided: FromQuery[str] = "",
) -> Response[Any]:
    """Admin: agencies asking to join, oldest first."""
    admin = _staff(request, "admin")
    if not isinstance(admin, StaffSignedIn):
        return admin
    status = status if status in dict(APPLICATION_STATUSES) else "pending"
    items = [
        {**vars(item), "created": _when(item.created_at)}
        for item in joining.applications(admin.caller, status)
    ]
    return _page(
        "staff_applications.html",
        items=items,
        current=status,
        statuses=APPLICATION_STATUSES,
        decided=decided,
        signed_in=True,
        csrf=web.csrf_for(admin),
    )


def _application(
    admin: StaffSignedIn, application_id: uuid.UUID, errors: list[str], status: int
) -> Response[Any]:
    try:
        found = joining.application(admin.caller, application_id)
    except MandatError:
        return _page("staff_applications.html", 404, items=[], statuses=APPLICATION_STATUSES,
                     current="", signed_in=True, csrf=web.csrf_for(admin))  # fmt: skip
    return _page(
        "staff_application.html",
        status,
        a=found,
        created=_when(found.created_at),
        errors=errors,
        signed_in=True,
        csrf=web.csrf_for(admin),
    )


@get("/staff/applications/{application_id:uuid}", include_in_schema=False, sync_to_thread=True)
def application_page(
    request: Request[Any, Any, Any], application_id: FromPath[uuid.UUID]
) -> Response[Any]:
    admin = _staff(request, "admin")
    if not isinstance(admin, StaffSignedIn):
        return admin
    return _application(admin, application_id, [], 200)


@post(
    "/staff/applications/{application_id:uuid}/{decision:str}",
    include_in_schema=False,
    sync_to_thread=True,
    status_code=303,
)
def decide_application(
    request: Request[Any, Any, Any],
    application_id: FromPath[uuid.UUID],
    decision: FromPath[str],
    data: URLEncodedBody[dict[str, str]],
) -> Response[Any]:
    """Admin: approve (the agency is created, its applicant invited as owner) or refuse."""
    admin = _staff(request, "admin")
    if not isinstance(admin, StaffSignedIn):
        return admin
    if decision not in ("approve", "refuse"):
        return _application(admin, application_id, ["Décision inconnue."], 404)
    if not web.csrf_ok(admin, data.get("csrf")):
        return _application(
            admin, application_id, ["Le formulaire a expiré : rechargez la page."], 403
        )
    try:
        if decision == "approve":
            joining.approve(admin.caller, application_id)
        else:
            joining.refuse(admin.caller, application_id, data.get("reason") or "")
    except RuleViolation as error:
        return _application(admin, application_id, [e.message for e in error.errors], 422)
    except Conflict as error:
        return _application(admin, application_id, [error.message], 409)
    return Redirect(f"/staff/applications?decided={application_id}", status_code=303)


STAFF_PAGES = [
    staff_home,
    old_request_page,
    logout,
    queue,
    request_page,
    decide_page,
    applications_page,
    application_page,
    decide_application,
]
