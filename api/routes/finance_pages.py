"""The finance refund queue: server-rendered pages (Litestar templates), no build step.

A clerk signs in once with a finance key; the queue lists pending requests oldest first with
each agency's refund rate next to the median; a request's page shows the request, the purchase
and lead, the call attempts and the agency's history, and a form to approve (in full or in part)
or reject with a note. Works with the keyboard alone.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from api import finance_session as sessions
from engine.accounts.keys import principal_of_key
from engine.errors import MandatError, RuleViolation, Unauthenticated
from engine.money import format_euros as euros
from engine.money import parse_euros
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
}
NO_STORE = {"Cache-Control": "no-store"}


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %".replace(".", ",")


def _signed_in(request: Request[Any, Any, Any]) -> tuple[Any, str] | None:
    cookie = request.cookies.get(sessions.COOKIE)
    principal = sessions.principal_of(cookie)
    if principal is None or cookie is None:
        return None
    return principal, cookie


def _page(name: str, status: int = 200, **context: Any) -> Template:
    return Template(template_name=name, context=context, status_code=status, headers=NO_STORE)


@get("/finance", include_in_schema=False)
async def finance_home() -> Redirect:
    return Redirect("/finance/refunds")


@get("/finance/login", include_in_schema=False)
async def login_page() -> Template:
    return _page("finance_login.html")


@post(
    "/finance/login",
    include_in_schema=False,
    sync_to_thread=True,
    status_code=303,
    opt={"limit": "signin"},
)
def login(data: URLEncodedBody[dict[str, str]]) -> Response[Any]:
    try:
        principal = principal_of_key((data.get("key") or "").strip())
    except Unauthenticated:
        principal = None
    if principal is None or principal.role != "finance":
        return _page("finance_login.html", 401, error="Cette clé n'ouvre pas l'espace finance.")
    redirect = Redirect("/finance/refunds", status_code=303)
    redirect.set_cookie(
        sessions.COOKIE,
        sessions.issue(principal.key_id),
        max_age=sessions.LIFETIME_S,
        path="/finance",
        httponly=True,
        samesite="strict",
        secure=False,  # served behind TLS in production; loopback in development
    )
    return redirect


@post("/finance/logout", include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any], data: URLEncodedBody[dict[str, str]]) -> Redirect:
    redirect = Redirect("/finance/login", status_code=303)
    if sessions.csrf_ok(request.cookies.get(sessions.COOKIE), data.get("csrf")):
        redirect.delete_cookie(sessions.COOKIE, path="/finance")
    return redirect


@get("/finance/refunds", include_in_schema=False, sync_to_thread=True)
def queue(
    request: Request[Any, Any, Any],
    status: FromQuery[str] = "pending",
    decided: FromQuery[str | None] = None,
) -> Response[Any]:
    signed = _signed_in(request)
    if signed is None:
        return Redirect("/finance/login")
    principal, cookie = signed
    status = status if status in dict(STATUSES) else "pending"
    found = refund_queue(principal, status)
    page, names = found.page, found.agency_names
    return _page(
        "finance_queue.html",
        items=[_queue_row(item, names) for item in page.items],
        current=status,
        statuses=STATUSES,
        median=_percent(page.median_refund_rate),
        decided=decided,
        signed_in=True,
        csrf=sessions.csrf_token(cookie),
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
    request_id: uuid.UUID, signed: tuple[Any, str], errors: list[str], status: int
) -> Response[Any]:
    principal, cookie = signed
    case = refund_case(principal, request_id)
    if case is None:
        return _page(
            "finance_queue.html",
            404,
            items=[],
            statuses=STATUSES,
            status="",
            median="—",
            signed_in=True,
            csrf=sessions.csrf_token(cookie),
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
        csrf=sessions.csrf_token(cookie),
    )


@get("/finance/refunds/{request_id:uuid}", include_in_schema=False, sync_to_thread=True)
def request_page(request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID]) -> Response[Any]:
    signed = _signed_in(request)
    if signed is None:
        return Redirect("/finance/login")
    return _detail(request_id, signed, [], 200)


@post(
    "/finance/refunds/{request_id:uuid}/decision",
    include_in_schema=False,
    sync_to_thread=True,
    status_code=303,
)
def decide_page(
    request: Request[Any, Any, Any],
    request_id: FromPath[uuid.UUID],
    data: URLEncodedBody[dict[str, str]],
) -> Response[Any]:
    signed = _signed_in(request)
    if signed is None:
        return Redirect("/finance/login", status_code=303)
    principal, cookie = signed
    if not sessions.csrf_ok(cookie, data.get("csrf")):
        return _detail(request_id, signed, ["Le formulaire a expiré : rechargez la page."], 403)
    amount, errors = _read_decision(data)
    if errors:
        return _detail(request_id, signed, errors, 422)
    try:
        decide_refund(principal, request_id, data["decision"], amount, data.get("note") or "")
    except RuleViolation as error:
        return _detail(request_id, signed, [e.message for e in error.errors], 422)
    except MandatError as error:
        return _detail(request_id, signed, [error.message], 409)
    return Redirect(f"/finance/refunds?decided={request_id}", status_code=303)


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


FINANCE_PAGES = [finance_home, login_page, login, logout, queue, request_page, decide_page]
