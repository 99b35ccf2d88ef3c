"""The passkey ceremonies of Espace Pro, called by /pro/static/passkeys.js: options, then the
browser's answer. JSON in and out; the page's CSRF token comes in the X-CSRF-Token header."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.concurrency import sync_to_thread
from litestar.params import FromPath
from litestar.response import Redirect

from api.pro import web
from api.pro.web import CsrfForm, FormOf
from engine.errors import NotFound, RuleViolation, Unauthenticated
from engine.people import passkeys
from engine.people.sessions import SignedIn

JSON = "application/json"


def _refused(status: int, code: str) -> Response[Any]:
    return Response({"code": code, "detail": code}, status_code=status, media_type=JSON)


async def _body(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (ValueError, TypeError):
        return None
    return body if isinstance(body, dict) and isinstance(body.get("credential"), dict) else None


class PasskeyPages(Controller):
    path = "/pro"
    include_in_schema = False

    @post("/account/security/passkeys/options", status_code=200)
    async def registration_options(self, request: Request[Any, Any, Any]) -> Response[Any]:
        person = await sync_to_thread(web.person_of, request)
        if person is None:
            return _refused(401, "sign_in_again")
        if not web.header_csrf_ok(request, person):
            return _refused(403, "csrf")
        options = await sync_to_thread(
            passkeys.registration_options, person, web.token_of(request) or "",
            web.relying_party(request),
        )  # fmt: skip
        return Response(options, media_type=JSON, headers=web.NO_STORE)

    @post("/account/security/passkeys", status_code=201)
    async def register(self, request: Request[Any, Any, Any]) -> Response[Any]:
        person = await sync_to_thread(web.person_of, request)
        if person is None:
            return _refused(401, "sign_in_again")
        if not web.header_csrf_ok(request, person):
            return _refused(403, "csrf")
        body = await _body(request)
        if body is None:
            return _refused(400, "bad_request")
        try:
            await sync_to_thread(
                passkeys.register, person, web.token_of(request) or "",
                web.relying_party(request), body["credential"], str(body.get("name") or ""),
            )  # fmt: skip
        except RuleViolation as refused:
            return _refused(422, refused.errors[0].code)
        return Response({"ok": True}, status_code=201, media_type=JSON)

    @post(
        "/account/security/passkeys/{passkey_id:uuid}/remove", sync_to_thread=True, status_code=303
    )
    def remove(
        self,
        request: Request[Any, Any, Any],
        passkey_id: FromPath[uuid.UUID],
        data: FormOf[CsrfForm],
    ) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            passkeys.remove(person, passkey_id)
        except NotFound:
            return web.render(request, "refused.html", person, 404)
        return Redirect(f"{web.ENROL_PAGE}?done=passkey_removed", status_code=303)

    @post("/login/passkey/options", status_code=200)
    async def sign_in_options(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if not web.header_csrf_ok(request, None):
            return _refused(403, "csrf")
        pre, _ = web.pre_session(request)
        options = await sync_to_thread(
            passkeys.authentication_options, pre, web.relying_party(request)
        )
        return Response(options, media_type=JSON, headers=web.NO_STORE)

    @post("/login/passkey", status_code=200)
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if not web.header_csrf_ok(request, None):
            return _refused(403, "csrf")
        body = await _body(request)
        if body is None:
            return _refused(400, "bad_request")
        pre, _ = web.pre_session(request)
        try:
            token = await sync_to_thread(
                passkeys.sign_in, pre, web.relying_party(request), body["credential"],
                web.ip_of(request), request.headers.get("user-agent"),
            )  # fmt: skip
        except (Unauthenticated, RuleViolation):
            return _refused(401, "passkey_refused")
        target = web.safe_next(str(body.get("next") or ""))
        answer = Response({"redirect": target}, media_type=JSON, headers=web.NO_STORE)
        return web.signed_in_response(answer, token)
