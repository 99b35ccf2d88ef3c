"""Espace Pro: the pipeline board, a card per bought contact in its stage, and moving a card."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from msgspec import Struct

from api.pro import web
from api.pro.web import FormOf
from engine.crm import flows
from engine.errors import Forbidden, NotFound, RuleViolation
from engine.people.sessions import SignedIn
from engine.sales.flows import work_purchased_lead
from engine.sales.models import PIPELINE


class MoveForm(Struct):
    pipeline_status: str = ""
    csrf: str = ""


class BoardPages(Controller):
    path = "/pro"
    include_in_schema = False

    @get("/board", sync_to_thread=True)
    def board(self, request: Request[Any, Any, Any], moved: FromQuery[str] = "") -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        return web.render(
            request, "board.html", person, board=flows.board(person.caller), moved=moved,
            stages_order=PIPELINE,
        )  # fmt: skip

    @post("/board/{purchase_id:uuid}", sync_to_thread=True, status_code=303)
    def move(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        data: FormOf[MoveForm],
    ) -> Response[Any]:  # fmt: skip
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            work_purchased_lead(person.caller, purchase_id, data.pipeline_status, None)
        except NotFound:
            return web.render(request, "not_found.html", person, 404)
        except (Forbidden, RuleViolation):
            return web.render(request, "refused.html", person, 403)
        return Redirect(f"/pro/board?moved={purchase_id}#card-{purchase_id}", status_code=303)
