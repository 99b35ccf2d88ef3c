"""Espace Pro pages: sign-in and out, the dashboard, static files, the person's sessions (the
lead inbox: api/pro/inbox.py).

Each handler is short: read the form or the query, call the same `engine` service the API calls,
render. A POST always checks its CSRF token first.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from msgspec import Struct

from api.pro import web
from api.pro.account import AccountPages
from api.pro.agenda import AgendaPages
from api.pro.board import BoardPages
from api.pro.contact_work import ContactWorkPages
from api.pro.contacts import ContactPages
from api.pro.dev_mail import dev_mailbox
from api.pro.inbox import InboxPages
from api.pro.join import JoinPages
from api.pro.keys import KeyPages
from api.pro.passkey_pages import PasskeyPages
from api.pro.security import SecurityPages
from api.pro.team import TeamPages
from api.pro.web import CsrfForm, FormOf
from engine.errors import NotFound, RuleViolation, TooManyRequests, Unauthenticated
from engine.people import second_factor, service
from engine.people.sessions import SignedIn
from engine.sales.dashboard import agency_dashboard

STATIC = Path(__file__).parent / "static"
# htmx, vendored from the npm registry (pinned by api/pro/vendor/package-lock.json, copied by
# `make vendor`): its name carries its version, so browsers may keep it for a year.
HTMX = "htmx-2.0.11.min.js"
ASSETS = {
    "pro.css": "text/css; charset=utf-8",
    "passkeys.js": "text/javascript; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
    "inbox.js": "text/javascript; charset=utf-8",
    HTMX: "text/javascript; charset=utf-8",
}
FOR_A_YEAR = "public, max-age=31536000, immutable"


class SignInForm(Struct):
    email: str = ""
    password: str = ""
    csrf: str = ""
    next: str = ""


class CodeForm(Struct):
    code: str = ""
    csrf: str = ""
    next: str = ""


class ProPages(Controller):
    """Every page under /pro/ (a controller: Litestar makes its handlers afresh for each app)."""

    path = "/pro"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def dashboard(self, request: Request[Any, Any, Any]) -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        return web.render(request, "dashboard.html", person, board=agency_dashboard(person.caller))

    @get("/static/{name:str}")
    async def pro_static(self, name: FromPath[str]) -> Response[bytes]:
        if name not in ASSETS:
            raise NotFound("No such file.", code="not_found")
        return Response(
            (STATIC / name).read_bytes(),
            media_type=ASSETS[name],
            headers={"Cache-Control": FOR_A_YEAR if name == HTMX else "public, max-age=3600"},
        )

    @get("/login", sync_to_thread=True)
    def login_page(
        self, request: Request[Any, Any, Any], next: FromQuery[str] = ""
    ) -> Response[Any]:
        if web.person_of(request):
            return Redirect(web.safe_next(next), status_code=303)
        done = request.query_params.get("reset") == "1"
        return web.anonymous_page(request, "login.html", next=next, request_reset_done=done)

    @post("/login", sync_to_thread=True, status_code=303)
    def login(self, request: Request[Any, Any, Any], data: FormOf[SignInForm]) -> Response[Any]:
        again = {"next": data.next, "email": data.email}
        if not web.pre_csrf_ok(request, data.csrf):
            return web.anonymous_page(request, "login.html", 403, error="expired", **again)
        credentials = service.Credentials(
            data.email, data.password, web.ip_of(request), request.headers.get("user-agent")
        )
        try:
            result = service.sign_in(credentials, replaced_token=web.token_of(request))
        except Unauthenticated:
            return web.anonymous_page(request, "login.html", 401, error="wrong", **again)
        except TooManyRequests as refused:
            page = web.anonymous_page(request, "login.html", 429, error="throttled", **again)
            page.headers["Retry-After"] = str(refused.retry_after_s)
            return page
        if result.second_factor_needed:
            target = f"/pro/login/code?next={web.safe_next(data.next)}"
            return web.pending_response(Redirect(target, status_code=303), result.token)
        return web.signed_in_response(
            Redirect(web.safe_next(data.next), status_code=303), result.token
        )

    @get("/login/code", sync_to_thread=True)
    def code_page(
        self, request: Request[Any, Any, Any], next: FromQuery[str] = ""
    ) -> Response[Any]:
        if not web.is_pending(request):
            return Redirect("/pro/login", status_code=303)
        return web.anonymous_page(request, "code.html", next=next)

    @post("/login/code", sync_to_thread=True, status_code=303)
    def code(self, request: Request[Any, Any, Any], data: FormOf[CodeForm]) -> Response[Any]:
        if not web.pre_csrf_ok(request, data.csrf):
            return web.anonymous_page(request, "refused.html", 403)
        try:
            token = second_factor.complete_sign_in(
                web.token_of(request) or "", data.code, web.ip_of(request),
                request.headers.get("user-agent"),
            )  # fmt: skip
        except Unauthenticated:
            return Redirect("/pro/login", status_code=303)
        except RuleViolation:
            return web.anonymous_page(request, "code.html", 422, next=data.next, error="wrong")
        except TooManyRequests as refused:
            page = web.anonymous_page(request, "code.html", 429, next=data.next, error="throttled")
            page.headers["Retry-After"] = str(refused.retry_after_s)
            return page
        return web.signed_in_response(Redirect(web.safe_next(data.next), status_code=303), token)

    @post("/logout", sync_to_thread=True, status_code=303)
    def logout(self, request: Request[Any, Any, Any], data: FormOf[CsrfForm]) -> Response[Any]:
        person = web.person_of(request)
        if person is None:
            return Redirect("/pro/login", status_code=303)
        if not web.csrf_ok(person, data.csrf):
            return web.render(request, "refused.html", person, 403)
        service.sign_out(web.token_of(request) or "")
        return web.signed_out_response(Redirect("/pro/login", status_code=303))

    @get("/account/sessions", sync_to_thread=True)
    def sessions_page(
        self, request: Request[Any, Any, Any], ended: FromQuery[str] = ""
    ) -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        return web.render(
            request,
            "sessions.html",
            person,
            sessions=service.my_sessions(person),
            ended=bool(ended),
        )

    @post(
        "/account/sessions/{session_id:uuid}/revoke",
        include_in_schema=False,
        sync_to_thread=True,
        status_code=303,
    )
    def revoke_session(
        self,
        request: Request[Any, Any, Any],
        session_id: FromPath[uuid.UUID],
        data: FormOf[CsrfForm],
    ) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        service.end_session(person, session_id)
        if session_id == person.session_id:
            return web.signed_out_response(Redirect("/pro/login", status_code=303))
        return Redirect("/pro/account/sessions?ended=1", status_code=303)


PRO_PAGES = [
    ProPages,
    InboxPages,
    AccountPages,
    JoinPages,
    KeyPages,
    ContactPages,
    ContactWorkPages,
    AgendaPages,
    BoardPages,
    TeamPages,
    SecurityPages,
    PasskeyPages,
    dev_mailbox,
]
