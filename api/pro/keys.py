"""Espace Pro's API keys page (owner): the agency's keys for its CRM or website, a new key shown
once, and revoking one. The same engine services as `POST /agencies/{id}/api-keys`,
`GET /agency/api-keys` and `DELETE /agency/api-keys/{id}`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from msgspec import Struct

from api.pro import web
from api.pro.web import CsrfForm, FormOf
from engine.agencies.flows import agency_keys, issue_api_key, revoke_api_key
from engine.errors import Forbidden, NotFound, RuleViolation
from engine.people.sessions import SignedIn

# What the form offers: no expiry (until revoked), or a life in days.
LIFETIMES = ("", "30", "90", "365")


class KeyForm(Struct):
    label: str = ""
    role: str = "buyer"
    expires_in_days: str = ""
    csrf: str = ""


def _page(
    request: Request[Any, Any, Any], person: SignedIn, status: int = 200, **context: Any
) -> Response[Any]:
    if person.role != "owner":  # only an owner sees or makes keys: no page for the others
        return web.render(request, "not_found.html", person, 404)
    now = datetime.now(UTC)
    keys = sorted(
        agency_keys(person.caller),
        key=lambda k: (k.revoked_at is not None or _expired(k.expires_at, now), k.label),
    )
    return web.render(request, "keys.html", person, status, keys=keys, now=now, **context)


def _expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


class KeyPages(Controller):
    path = "/pro/team/keys"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def keys_page(
        self, request: Request[Any, Any, Any], done: FromQuery[str] = ""
    ) -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        return _page(request, person, done=done)

    @post("/", sync_to_thread=True, status_code=200)
    def issue(self, request: Request[Any, Any, Any], data: FormOf[KeyForm]) -> Response[Any]:
        """The new key is in this answer only (never in a URL, never stored in clear)."""
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        if person.role != "owner":
            return web.render(request, "not_found.html", person, 404)
        label = " ".join(data.label.split())
        if not label or len(label) > 100:
            return _page(request, person, 422, errors={"label": "required"}, form=data)
        if data.expires_in_days not in LIFETIMES:
            return _page(request, person, 422, errors={"expires": "unknown"}, form=data)
        days = data.expires_in_days
        expires_at = datetime.now(UTC) + timedelta(days=int(days)) if days else None
        try:
            issued = issue_api_key(person.caller, person.agency_id, data.role, label, expires_at)
        except RuleViolation:
            return _page(request, person, 422, errors={"role": "unknown_role"}, form=data)
        return _page(request, person, 201, issued=issued)

    @post("/{key_id:uuid}/revoke", sync_to_thread=True, status_code=303)
    def revoke(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        data: FormOf[CsrfForm],
    ) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            revoke_api_key(person.caller, key_id)
        except (NotFound, Forbidden):
            return web.render(request, "not_found.html", person, 404)
        return Redirect("/pro/team/keys?done=revoked", status_code=303)
