"""Joining Mandat: the public page where an agency applies (issue 13 item 6). Staff decide on
the staff pages; approval mails the applicant the link that opens their Espace Pro."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from msgspec import Struct

from api.pro import web
from api.pro.web import FormOf
from engine.agencies import applications
from engine.errors import Conflict, RuleViolation


class JoinForm(Struct):
    name: str = ""
    siret: str = ""
    card_number: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    csrf: str = ""


class JoinPages(Controller):
    path = "/pro/join"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def join_page(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return web.anonymous_page(request, "join.html", form=JoinForm(), errors={})

    @post("/", sync_to_thread=True, status_code=200, opt={"limit": "public"})
    def join(self, request: Request[Any, Any, Any], data: FormOf[JoinForm]) -> Response[Any]:
        if not web.pre_csrf_ok(request, data.csrf):
            return web.anonymous_page(request, "refused.html", 403)
        fields = {k: getattr(data, k) for k in JoinForm.__struct_fields__ if k != "csrf"}
        try:
            applications.submit(applications.Application(**fields, lang=web.lang_of(request)))
        except RuleViolation as refused:
            errors = {error.path: error.code for error in refused.errors}
            return web.anonymous_page(request, "join.html", 422, form=data, errors=errors)
        except Conflict as taken:
            return web.anonymous_page(
                request, "join.html", 409, form=data, errors={}, conflict=taken.code
            )
        return web.anonymous_page(request, "join.html", sent=True, form=data, errors={})
