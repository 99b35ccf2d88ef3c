"""Espace Pro's security page: the person's second factor (a TOTP app and recovery codes) and,
for an owner, whether the agency requires one."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect
from msgspec import Struct

from api.pro import web
from api.pro.web import FormOf
from engine.errors import Conflict, Forbidden, RuleViolation
from engine.people import passkeys, second_factor
from engine.people.sessions import SignedIn


class CodeForm(Struct):
    code: str = ""
    csrf: str = ""


class PolicyForm(Struct):
    required: str = ""
    csrf: str = ""


class SecurityPages(Controller):
    path = web.ENROL_PAGE
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def security_page(self, request: Request[Any, Any, Any]) -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        done = request.query_params.get("done", "")
        return web.render(
            request, "security.html", person, factor=second_factor.status(person), done=done,
            keys=passkeys.list_passkeys(person),
        )  # fmt: skip

    @post("/totp/start", sync_to_thread=True, status_code=200)
    def start(self, request: Request[Any, Any, Any], data: FormOf[CodeForm]) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            enrolment = second_factor.start(person)
        except Conflict:
            return Redirect(web.ENROL_PAGE, status_code=303)
        return web.render(request, "enrol.html", person, enrolment=enrolment)

    @post("/totp/confirm", sync_to_thread=True, status_code=200)
    def confirm(self, request: Request[Any, Any, Any], data: FormOf[CodeForm]) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            codes = second_factor.confirm(person, data.code)
        except RuleViolation:
            enrolment = second_factor.enrolment(person)
            if enrolment is None:
                return Redirect(web.ENROL_PAGE, status_code=303)
            return web.render(request, "enrol.html", person, 422, enrolment=enrolment, error=True)
        return web.render(request, "recovery_codes.html", person, codes=codes)

    @post("/totp/off", sync_to_thread=True, status_code=303)
    def turn_off(self, request: Request[Any, Any, Any], data: FormOf[CodeForm]) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            second_factor.turn_off(person, data.code)
        except RuleViolation:
            return web.render(
                request, "security.html", person, 422, factor=second_factor.status(person),
                error="wrong_code", keys=passkeys.list_passkeys(person),
            )  # fmt: skip
        return Redirect(f"{web.ENROL_PAGE}?done=off", status_code=303)

    @post("/policy", sync_to_thread=True, status_code=303)
    def policy(self, request: Request[Any, Any, Any], data: FormOf[PolicyForm]) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            second_factor.require_for_agency(person, data.required == "yes")
        except Forbidden:
            return web.render(request, "refused.html", person, 403)
        return Redirect(f"{web.ENROL_PAGE}?done=policy", status_code=303)
