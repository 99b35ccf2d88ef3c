"""Espace Pro's team page: the agency's people, and for an owner, inviting and removing them."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from msgspec import Struct

from api.pro import web
from api.pro.web import CsrfForm, FormOf
from engine.crm.flows import team_speed
from engine.errors import Conflict, Forbidden, RuleViolation
from engine.people import invitations, team
from engine.people.sessions import SignedIn


class InviteForm(Struct):
    email: str = ""
    name: str = ""
    role: str = "buyer"
    csrf: str = ""


def _people(person: SignedIn) -> dict[str, Any]:
    """The agency's people, and how fast each reaches the contacts they work."""
    return {"members": team.members(person), "speed": team_speed(person.caller)}


def _invitation_refused(
    refused: RuleViolation | Conflict | Forbidden,
) -> tuple[dict[str, str], int]:
    """The form's errors by field and the page's status for a refused invitation."""
    if isinstance(refused, RuleViolation):
        return {e.path: e.code for e in refused.errors}, 422
    if isinstance(refused, Conflict):
        return {"email": refused.code}, 409
    return {"form": refused.code}, 403


class TeamPages(Controller):
    path = "/pro/team"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def team_page(
        self, request: Request[Any, Any, Any], done: FromQuery[str] = ""
    ) -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        return web.render(request, "team.html", person, **_people(person), done=done)

    @post("/invite", sync_to_thread=True, status_code=303)
    def invite(self, request: Request[Any, Any, Any], data: FormOf[InviteForm]) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            invitations.invite(
                person.caller, person.agency_id, data.email, data.name, data.role,
                web.lang_of(request, person),
            )  # fmt: skip
        except (RuleViolation, Conflict, Forbidden) as refused:
            errors, status = _invitation_refused(refused)
            return web.render(
                request, "team.html", person, status, **_people(person),
                errors=errors, form=data,
            )  # fmt: skip
        return Redirect("/pro/team?done=invited", status_code=303)

    @post("/{person_id:uuid}/disable", sync_to_thread=True, status_code=303)
    def disable(
        self,
        request: Request[Any, Any, Any],
        person_id: FromPath[uuid.UUID],
        data: FormOf[CsrfForm],
    ) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            team.disable(person, person_id)
        except (Forbidden, Conflict) as refused:
            return web.render(
                request, "team.html", person, 403 if isinstance(refused, Forbidden) else 409,
                **_people(person), errors={"form": refused.code},
            )  # fmt: skip
        return Redirect("/pro/team?done=disabled", status_code=303)
