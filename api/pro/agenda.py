"""Espace Pro: the person's agenda (overdue reminders, the week's reminders and appointments),
a reminder marked done, an appointment's calendar file, and the secret calendar link a calendar
application subscribes to."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect
from msgspec import Struct

from api.pro import web
from api.pro.contacts import PARIS
from api.pro.web import CsrfForm, FormOf
from engine.crm import flows
from engine.errors import Forbidden, NotFound
from engine.people.sessions import SignedIn

ICS = "text/calendar; charset=utf-8"


class DoneForm(Struct):
    done: str = "1"
    back: str = ""
    csrf: str = ""


class AgendaPages(Controller):
    path = "/pro"
    include_in_schema = False

    @post("/reminders/{reminder_id:uuid}/done", sync_to_thread=True, status_code=303)
    def reminder_done(
        self, request: Request[Any, Any, Any], reminder_id: FromPath[uuid.UUID],
        data: FormOf[DoneForm],
    ) -> Response[Any]:  # fmt: skip
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            reminder = flows.mark_reminder(person.caller, reminder_id, data.done == "1")
        except NotFound:
            return web.render(request, "not_found.html", person, 404)
        except Forbidden:
            return web.render(request, "refused.html", person, 403)
        if data.back == "agenda":
            return Redirect("/pro/agenda", status_code=303)
        return Redirect(f"/pro/contacts/{reminder.purchase_id}#reminders", status_code=303)

    @get(
        "/contacts/{purchase_id:uuid}/appointments/{appointment_id:uuid}/calendar.ics",
        sync_to_thread=True,
    )
    def appointment_file(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        appointment_id: FromPath[uuid.UUID],
    ) -> Response[Any]:  # fmt: skip
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        try:
            body = flows.appointment_ics(person.caller, purchase_id, appointment_id)
        except NotFound:
            return web.render(request, "not_found.html", person, 404)
        return Response(
            body, media_type=ICS,
            headers={**web.NO_STORE,
                     "Content-Disposition": 'attachment; filename="rendez-vous-mandat.ics"'},
        )  # fmt: skip

    @get("/agenda", sync_to_thread=True)
    def agenda(self, request: Request[Any, Any, Any]) -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        return self._agenda(request, person, flows.calendar_link(person.caller))

    def _agenda(
        self, request: Request[Any, Any, Any], person: SignedIn, link: flows.FeedLink
    ) -> Response[Any]:
        today = datetime.now(PARIS).date()
        week = flows.my_agenda(person.caller, today)
        days = [today + timedelta(days=n) for n in range(7)]
        return web.render(
            request, "agenda.html", person, agenda=week, days=days, link=link, paris=PARIS,
        )  # fmt: skip

    @post("/agenda/calendar-link", sync_to_thread=True, status_code=200)
    def new_link(self, request: Request[Any, Any, Any], data: FormOf[CsrfForm]) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        return self._agenda(request, person, flows.new_calendar_link(person.caller))

    @post("/agenda/calendar-link/revoke", sync_to_thread=True, status_code=303)
    def revoke_link(self, request: Request[Any, Any, Any], data: FormOf[CsrfForm]) -> Response[Any]:
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        flows.revoke_calendar_link(person.caller)
        return Redirect("/pro/agenda", status_code=303)

    @get("/calendar/{name:str}", sync_to_thread=True)
    def feed(self, name: FromPath[str]) -> Response[Any]:
        """A calendar application's subscription: no session, the secret link is the key."""
        try:
            body = flows.calendar_feed(name.removesuffix(".ics"))
        except NotFound:
            return Response("Not found", status_code=404, media_type="text/plain")
        return Response(body, media_type=ICS, headers=web.NO_STORE)
