"""The homeowner's private page (`/me?token=…`, the link of the confirmation e-mail): the request,
the estimate, who was named, consented and bought, and three buttons — download the data,
withdraw consent for one agency, erase everything.

Nothing acts on GET (mail scanners open links): every action is a POST carrying the link's token
in a hidden field and the form's CSRF token (`api.web.public`); withdrawing and erasing ask once
more before acting. The pages call the same `engine.privacy.flows` services as the JSON routes.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from msgspec import Struct

from api.homeowner.schemas import MyDataOut
from api.pro.web import FormOf
from api.schemas import shaped
from api.web import public
from engine.errors import NotFound
from engine.privacy.flows import (
    erase_my_data,
    export_my_data,
    see_my_data,
    withdraw_my_consent,
)
from engine.privacy.service import InvalidToken


class MeForm(Struct):
    token: str = ""
    csrf: str = ""
    agency_id: str = ""
    confirmed: str = ""


def _here(token: str) -> str:
    return "/me?" + urlencode({"token": token})


def _gone(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """The link is forged or expired (403), or its data were erased (410)."""
    erased = isinstance(error, NotFound)
    return public.page(request, "me_gone.html", 410 if erased else 403, private=True, erased=erased)


def _show(request: Request[Any, Any, Any], token: str, **context: Any) -> Response[Any]:
    try:
        data = see_my_data(token)
    except (InvalidToken, NotFound) as error:
        return _gone(request, error)
    csrf, cookies = public.me_form_token(request, token)
    return public.page(
        request,
        "me.html",
        here=_here(token),
        private=True,
        cookies=cookies,
        me=data,
        token=token,
        csrf=csrf,
        **context,
    )


def _refused(request: Request[Any, Any, Any], form: MeForm) -> Response[Any] | None:
    if public.me_form_ok(request, form.token, form.csrf):
        return None
    return public.page(request, "me_refused.html", 403, private=True, again=_here(form.token))


class HomeownerPages(Controller):
    path = "/me"
    include_in_schema = False
    opt = {"limit": "me"}

    @get("/", sync_to_thread=True)
    def my_page(self, request: Request[Any, Any, Any], token: FromQuery[str] = "") -> Response[Any]:
        return _show(request, token[:400])

    @post("/export", sync_to_thread=True, status_code=200)
    def export(self, request: Request[Any, Any, Any], data: FormOf[MeForm]) -> Response[Any]:
        if (refused := _refused(request, data)) is not None:
            return refused
        try:
            mine = shaped(export_my_data(data.token), MyDataOut)
        except (InvalidToken, NotFound) as error:
            return _gone(request, error)
        name = f"mandat-{mine.reference}.json"
        return Response(
            msgspec.json.format(msgspec.json.encode(mine)),
            media_type="application/json",
            headers={**public.NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    @post("/withdraw", sync_to_thread=True, status_code=200)
    def withdraw(self, request: Request[Any, Any, Any], data: FormOf[MeForm]) -> Response[Any]:
        if (refused := _refused(request, data)) is not None:
            return refused
        try:
            agency = uuid.UUID(data.agency_id)
        except ValueError:
            return _show(request, data.token)
        if data.confirmed != "yes":
            return _show(request, data.token, asking="withdraw", agency_id=str(agency))
        try:
            withdraw_my_consent(data.token, agency)
        except (InvalidToken, NotFound) as error:
            if getattr(error, "code", None) == "consent_not_found":  # an edited form
                return _show(request, data.token)
            return _gone(request, error)
        return _show(request, data.token, done="withdrawn", agency_id=str(agency))

    @post("/erase", sync_to_thread=True, status_code=200)
    def erase(self, request: Request[Any, Any, Any], data: FormOf[MeForm]) -> Response[Any]:
        if (refused := _refused(request, data)) is not None:
            return refused
        if data.confirmed != "yes":
            return _show(request, data.token, asking="erase")
        try:
            result = erase_my_data(data.token)
        except (InvalidToken, NotFound) as error:
            return _gone(request, error)
        return public.page(request, "me_erased.html", private=True, result=result)
