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
from sqlalchemy import text

from api import finance_session as sessions
from engine.accounts.keys import authenticate
from engine.db import unit_of_work
from engine.errors import MandatError, RuleViolation, Unauthenticated
from engine.money import format_euros as euros
from engine.money import parse_euros
from engine.refunds.flows import decide_refund
from engine.refunds.service import list_requests

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


@post("/finance/login", include_in_schema=False, sync_to_thread=True, status_code=303)
def login(data: URLEncodedBody[dict[str, str]]) -> Response[Any]:
    try:
        with unit_of_work() as session:
            principal = authenticate(session, (data.get("key") or "").strip())
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
    _, cookie = signed
    status = status if status in dict(STATUSES) else "pending"
    with unit_of_work() as session:
        page = list_requests(session, None, status, None, None, None, 200, None)
        names = dict(session.execute(text("SELECT id, name FROM agency")).tuples().all())
    items = [
        {
            "id": item.id,
            "created": item.created_at.strftime("%d/%m/%Y %H:%M"),
            "agency": names.get(item.agency_id, "?"),
            "reason": REASONS_FR[item.reason],
            "price": euros(item.price_cents),
            "rate": _percent(item.agency_refund_rate),
            "review": "taux élevé" if item.review_reason else "",
        }
        for item in page.items
    ]
    return _page(
        "finance_queue.html",
        items=items,
        current=status,
        statuses=STATUSES,
        median=_percent(page.median_refund_rate),
        decided=decided,
        signed_in=True,
        csrf=sessions.csrf_token(cookie),
    )


_DETAIL = text("""
    SELECT r.*, p.price_cents, p.mode, p.created_at AS bought_at, p.allocation,
           coalesce((SELECT -sum(l.amount_cents) FROM ledger_line l
                     WHERE l.purchase_id = p.id AND l.kind = 'refund'), 0) AS refunded,
           e.postal_code, c.name AS commune, e.property, ld.grade, ld.score,
           a.name AS agency_name,
           (SELECT count(*) FROM refund_request x WHERE x.agency_id = r.agency_id) AS requests,
           (SELECT count(*) FROM refund_request x WHERE x.agency_id = r.agency_id
              AND x.status = 'approved') AS approved
    FROM refund_request r
    JOIN purchase p ON p.id = r.purchase_id
    JOIN lead ld ON ld.id = p.lead_id
    JOIN estimation e ON e.id = ld.estimation_id
    JOIN commune c ON c.code = e.commune_code
    JOIN agency a ON a.id = r.agency_id
    WHERE r.id = :id
""")


def _detail(request_id: uuid.UUID, cookie: str, errors: list[str], status: int) -> Response[Any]:
    with unit_of_work() as session:
        row = session.execute(_DETAIL, {"id": request_id}).mappings().one_or_none()
        if row is None:
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
        rates = list_requests(session, None, None, None, row["agency_id"], None, 1, None)
    agency_rate = rates.items[0].agency_refund_rate if rates.items else None
    prop = row["property"]
    r = {
        "id": row["id"],
        "short": str(row["id"])[:8],
        "status": {"pending": "à décider", "approved": "acceptée", "rejected": "refusée"}[
            row["status"]
        ],
        "pending": row["status"] == "pending",
        "review": "taux de remboursement élevé" if row["review_reason"] else "",
        "created": row["created_at"].strftime("%d/%m/%Y %H:%M"),
        "reason": REASONS_FR[row["reason"]],
        "comment": row["comment"],
        "calls": row["call_attempts"],
        "decided": row["decided_at"] is not None,
        "rule": row["decision_rule"],
        "note": row["decision_note"],
        "amount": euros(row["approved_amount_cents"]) if row["approved_amount_cents"] else "",
    }
    p = {
        "bought": row["bought_at"].strftime("%d/%m/%Y %H:%M"),
        "mode": "exclusif" if row["mode"] == "exclusive" else "partagé",
        "price": euros(row["price_cents"]),
        "refunded": euros(row["refunded"]),
        "refundable": euros(row["price_cents"] - row["refunded"]),
        "commune": row["commune"],
        "postal_code": row["postal_code"],
        "property": f"{prop.get('type')}, {prop.get('surface_m2')} m², {prop.get('rooms')} pièces",
        "grade": row["grade"],
        "score": row["score"],
        "reach": row["allocation"].get("reach"),
        "distance": f"{row['allocation'].get('distance_m', 0) / 1000:.1f} km".replace(".", ","),
    }
    a = {
        "name": row["agency_name"],
        "rate": _percent(agency_rate),
        "median": _percent(rates.median_refund_rate),
        "requests": row["requests"],
        "approved": row["approved"],
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
    return _detail(request_id, signed[1], [], 200)


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
        return _detail(request_id, cookie, ["Le formulaire a expiré : rechargez la page."], 403)
    amount = None
    errors = []
    raw = (data.get("amount") or "").strip()
    if raw:
        try:
            amount = parse_euros(raw)
        except ValueError:
            errors.append("Le montant se lit en euros, par exemple 15,50.")
    decision = data.get("decision")
    if decision not in ("approve", "reject"):
        errors.append("Choisissez Accepter ou Refuser.")
    if errors:
        return _detail(request_id, cookie, errors, 422)
    try:
        decide_refund(principal, request_id, str(decision), amount, data.get("note") or "")
    except RuleViolation as error:
        return _detail(request_id, cookie, [e.message for e in error.errors], 422)
    except MandatError as error:
        return _detail(request_id, cookie, [error.message], 409)
    return Redirect(f"/finance/refunds?decided={request_id}", status_code=303)


FINANCE_PAGES = [finance_home, login_page, login, logout, queue, request_page, decide_page]
