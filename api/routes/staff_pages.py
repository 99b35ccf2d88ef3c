"""Staff pages: the finance refund queue, server-rendered (Litestar templates), no build step.

A clerk is a person of Mandat's staff (role finance): they sign in at /pro/login like agency
people, on the same server-side sessions (30 minutes idle, 12 hours at most, ended for good at
sign-out). The queue lists pending requests oldest first with
each agency's refund rate next to the median; a request's page shows the request, the purchase
and lead, the call attempts and the agency's history, and a form to approve (in full or in part)
or reject with a note. Works with the keyboard alone. The pages speak the reader's language as
Espace Pro's do (`web.language`: the URL's choice, the cookie, the person's, the browser's), their
words in the same catalogue, dates and amounts by the same filters.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from api.pro import web
from engine.agencies import decisions
from engine.errors import Conflict, MandatError, RuleViolation
from engine.money import parse_euros
from engine.people import service
from engine.people.sessions import StaffSignedIn
from engine.refunds.flows import decide_refund
from engine.refunds.queue import refund_case, refund_queue

# The statuses a list can show (their words are in the templates, in the reader's language).
STATUSES = ("pending", "approved", "rejected")
APPLICATION_STATUSES = ("pending", "approved", "refused")


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


def _page(
    request: Request[Any, Any, Any],
    staff: StaffSignedIn,
    name: str,
    status: int = 200,
    **context: Any,
) -> Template:
    """A staff page in the reader's language (chosen as on Espace Pro's pages)."""
    lang, cookies = web.language(request, staff)
    return Template(
        template_name=name,
        context={"lang": lang, "csrf": web.csrf_for(staff), "signed_in": True, **context},
        status_code=status,
        headers=web.NO_STORE,
        cookies=cookies,
    )


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
    status = status if status in STATUSES else "pending"
    found = refund_queue(clerk.caller, status)
    return _page(
        request,
        clerk,
        "finance_queue.html",
        items=found.page.items,
        names=found.agency_names,
        current=status,
        statuses=STATUSES,
        median=found.page.median_refund_rate,
        decided=decided,
    )


def _problem(code: str, message: str = "") -> dict[str, str]:
    """What went wrong, by its stable code (the page words it in the reader's language; the
    engine's own sentence when the page has no words for it)."""
    return {"code": code, "message": message}


def _detail(
    request: Request[Any, Any, Any],
    request_id: uuid.UUID,
    clerk: StaffSignedIn,
    errors: list[dict[str, str]],
    status: int,
) -> Response[Any]:
    case = refund_case(clerk.caller, request_id)
    if case is None:
        return _page(
            request, clerk, "finance_queue.html", 404,
            items=[], names={}, statuses=STATUSES, current="", median=None,
        )  # fmt: skip
    calls = [datetime.fromisoformat(c) for c in case.request.call_attempts]
    return _page(
        request,
        clerk,
        "finance_request.html",
        status,
        r=case.request,
        case=case,
        calls=calls,
        distance_km=case.allocation.get("distance_m", 0) / 1000,
        errors=errors,
    )


@get("/staff/refunds/{request_id:uuid}", include_in_schema=False, sync_to_thread=True)
def request_page(request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID]) -> Response[Any]:
    clerk = _staff(request, "finance")
    if not isinstance(clerk, StaffSignedIn):
        return clerk
    return _detail(request, request_id, clerk, [], 200)


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
        return _detail(request, request_id, clerk, [_problem("form_expired")], 403)
    amount, errors = _read_decision(data)
    if errors:
        return _detail(request, request_id, clerk, errors, 422)
    try:
        decide_refund(clerk.caller, request_id, data["decision"], amount, data.get("note") or "")
    except RuleViolation as error:
        problems = [_problem(e.code, e.message) for e in error.errors]
        return _detail(request, request_id, clerk, problems, 422)
    except MandatError as error:
        return _detail(request, request_id, clerk, [_problem(error.code, error.message)], 409)
    return Redirect(f"/staff/refunds?decided={request_id}", status_code=303)


def _read_decision(data: dict[str, str]) -> tuple[int | None, list[dict[str, str]]]:
    """The amount typed (cents, or None for the whole refundable amount) and what is wrong."""
    amount, errors = None, []
    raw = (data.get("amount") or "").strip()
    if raw:
        try:
            amount = parse_euros(raw)
        except ValueError:
            errors.append(_problem("invalid_amount"))
    if data.get("decision") not in ("approve", "reject"):
        errors.append(_problem("no_decision"))
    return amount, errors


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
    status = status if status in APPLICATION_STATUSES else "pending"
    return _page(
        request,
        admin,
        "staff_applications.html",
        items=decisions.applications(admin.caller, status),
        current=status,
        statuses=APPLICATION_STATUSES,
        decided=decided,
    )


def _application(
    request: Request[Any, Any, Any],
    admin: StaffSignedIn,
    application_id: uuid.UUID,
    errors: list[dict[str, str]],
    status: int,
) -> Response[Any]:
    try:
        found = decisions.application(admin.caller, application_id)
    except MandatError:
        return _page(request, admin, "staff_applications.html", 404, items=[],
                     statuses=APPLICATION_STATUSES, current="")  # fmt: skip
    return _page(request, admin, "staff_application.html", status, a=found, errors=errors)


def _decision_refused(refused: RuleViolation | Conflict) -> tuple[list[dict[str, str]], int]:
    """The problems a refused decision shows on the application's page, and the status."""
    if isinstance(refused, RuleViolation):
        return [_problem(e.code, e.message) for e in refused.errors], 422
    return [_problem(refused.code, refused.message)], 409


@get("/staff/applications/{application_id:uuid}", include_in_schema=False, sync_to_thread=True)
def application_page(
    request: Request[Any, Any, Any], application_id: FromPath[uuid.UUID]
) -> Response[Any]:
    admin = _staff(request, "admin")
    if not isinstance(admin, StaffSignedIn):
        return admin
    return _application(request, admin, application_id, [], 200)


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
        return _application(request, admin, application_id, [_problem("unknown_decision")], 404)
    if not web.csrf_ok(admin, data.get("csrf")):
        return _application(request, admin, application_id, [_problem("form_expired")], 403)
    try:
        decisions.decide(admin.caller, application_id, decision, data.get("reason") or "")
    except (RuleViolation, Conflict) as refused:
        return _application(request, admin, application_id, *_decision_refused(refused))
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
