"""Espace Pro pages for someone not signed in yet: accepting an invitation (choosing a password)
and a forgotten password (asking for a link, then choosing a new one)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect
from msgspec import Struct

from api.pro import web
from api.pro.web import FormOf
from engine.errors import NotFound, RuleViolation, TooManyRequests
from engine.people import invitations, resets


class PasswordForm(Struct):
    token: str = ""
    password: str = ""
    confirm: str = ""
    csrf: str = ""


class ForgotForm(Struct):
    email: str = ""
    csrf: str = ""


def _mismatch(form: PasswordForm) -> RuleViolation | None:
    if form.password != form.confirm:
        return RuleViolation.at("confirm", "passwords_differ", "The two passwords differ.")
    return None


class AccountPages(Controller):
    path = "/pro"
    include_in_schema = False

    @get("/welcome", sync_to_thread=True)
    def welcome_page(
        self, request: Request[Any, Any, Any], token: FromQuery[str] = ""
    ) -> Response[Any]:
        invited = invitations.invitation(token)
        if invited is None:
            return web.anonymous_page(request, "link_expired.html", 410)
        return web.anonymous_page(request, "welcome.html", invited=invited, token=token)

    @post("/welcome", sync_to_thread=True, status_code=303)
    def welcome(self, request: Request[Any, Any, Any], data: FormOf[PasswordForm]) -> Response[Any]:
        if not web.pre_csrf_ok(request, data.csrf):
            return web.anonymous_page(request, "refused.html", 403)
        invited = invitations.invitation(data.token)
        if invited is None:
            return web.anonymous_page(request, "link_expired.html", 410)
        try:
            problem = _mismatch(data)
            if problem:
                raise problem
            session_token = invitations.accept_invitation(
                data.token, data.password, web.ip_of(request), request.headers.get("user-agent")
            )
        except RuleViolation as refused:
            return web.anonymous_page(
                request, "welcome.html", 422, invited=invited, token=data.token,
                error=refused.errors[0].code,
            )  # fmt: skip
        except NotFound:
            return web.anonymous_page(request, "link_expired.html", 410)
        return web.signed_in_response(Redirect("/pro/", status_code=303), session_token)

    @get("/forgot", sync_to_thread=True)
    def forgot_page(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return web.anonymous_page(request, "forgot.html")

    @post("/forgot", sync_to_thread=True, status_code=200)
    def forgot(self, request: Request[Any, Any, Any], data: FormOf[ForgotForm]) -> Response[Any]:
        if not web.pre_csrf_ok(request, data.csrf):
            return web.anonymous_page(request, "refused.html", 403)
        try:
            resets.request_reset(data.email, web.ip_of(request))
        except TooManyRequests as refused:
            page = web.anonymous_page(request, "forgot.html", 429, error="throttled")
            page.headers["Retry-After"] = str(refused.retry_after_s)
            return page
        # The same answer whether the address has an account or not.
        return web.anonymous_page(request, "forgot.html", sent=True)

    @get("/reset", sync_to_thread=True)
    def reset_page(
        self, request: Request[Any, Any, Any], token: FromQuery[str] = ""
    ) -> Response[Any]:
        if not resets.reset_is_valid(token):
            return web.anonymous_page(request, "link_expired.html", 410)
        return web.anonymous_page(request, "reset.html", token=token)

    @post("/reset", sync_to_thread=True, status_code=303)
    def reset(self, request: Request[Any, Any, Any], data: FormOf[PasswordForm]) -> Response[Any]:
        if not web.pre_csrf_ok(request, data.csrf):
            return web.anonymous_page(request, "refused.html", 403)
        try:
            problem = _mismatch(data)
            if problem:
                raise problem
            resets.complete_reset(data.token, data.password)
        except RuleViolation as refused:
            return web.anonymous_page(
                request, "reset.html", 422, token=data.token, error=refused.errors[0].code
            )
        except NotFound:
            return web.anonymous_page(request, "link_expired.html", 410)
        return web.signed_out_response(Redirect("/pro/login?reset=1", status_code=303))
