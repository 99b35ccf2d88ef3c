"""The homeowner's private page (`/me?token=…`, the link of the confirmation e-mail): the request,
the estimate, who was named, consented and bought, and three buttons — download the data,
withdraw consent for one agency, erase everything; and the two answers the e-mail asks for,
"c'est bien moi" (`/me/confirm`) and "ce n'était pas moi" (`/me/not-me`).

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
from engine.errors import Conflict, NotFound
from engine.privacy.flows import (
    confirm_contact,
    disown_request,
    erase_my_data,
    export_my_data,
    see_my_data,
    withdraw_my_consent,
)
from engine.privacy.links import InvalidToken


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


class AnswerForm(Struct):
    token: str = ""
    csrf: str = ""


def _asking(request: Request[Any, Any, Any], purpose: str, token: str) -> Response[Any]:
    """The page a link of the e-mail opens: what the answer does, and its button (never acting
    on GET: mail scanners open links)."""
    csrf, cookies = public.me_form_token(request, token)
    here = f"/me/{'confirm' if purpose == 'confirm' else 'not-me'}?" + urlencode({"token": token})
    return public.page(request, "me_answer.html", here=here, private=True, cookies=cookies,
                       purpose=purpose, token=token, csrf=csrf)  # fmt: skip


def _answer(request: Request[Any, Any, Any], purpose: str, form: AnswerForm) -> Response[Any]:
    if not public.me_form_ok(request, form.token, form.csrf):
        here = f"/me/{'confirm' if purpose == 'confirm' else 'not-me'}?"
        again = here + urlencode({"token": form.token})
        return public.page(request, "me_refused.html", 403, private=True, again=again)
    try:
        (confirm_contact if purpose == "confirm" else disown_request)(form.token)
    except (InvalidToken, NotFound) as error:
        return _gone(request, error)
    except Conflict:
        return public.page(request, "me_answer.html", 409, private=True, purpose=purpose,
                           conflict=True)  # fmt: skip
    return public.page(request, "me_answer.html", private=True, purpose=purpose, done=True)


class HomeownerPages(Controller):
    path = "/me"
    include_in_schema = False
    opt = {"limit": "me"}

    @get("/", sync_to_thread=True)
    def my_page(self, request: Request[Any, Any, Any], token: FromQuery[str] = "") -> Response[Any]:
        return _show(request, token[:400])

    @get("/confirm", sync_to_thread=True)
    def confirm_page(
        self, request: Request[Any, Any, Any], token: FromQuery[str] = ""
    ) -> Response[Any]:
        """ "C'est bien moi" (the confirmation e-mail's link)."""
        return _asking(request, "confirm", token[:400])

    @post("/confirm", sync_to_thread=True, status_code=200)
    def confirm(self, request: Request[Any, Any, Any], data: FormOf[AnswerForm]) -> Response[Any]:
        return _answer(request, "confirm", data)

    @get("/not-me", sync_to_thread=True)
    def not_me_page(
        self, request: Request[Any, Any, Any], token: FromQuery[str] = ""
    ) -> Response[Any]:
        """ "Ce n'était pas moi" (the confirmation e-mail's link)."""
        return _asking(request, "not_me", token[:400])

    @post("/not-me", sync_to_thread=True, status_code=200)
    def not_me(self, request: Request[Any, Any, Any], data: FormOf[AnswerForm]) -> Response[Any]:
        return _answer(request, "not_me", data)

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
