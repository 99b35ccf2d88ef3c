"""Espace Pro: working a bought contact from its page: the timeline, reminders, appointments,
hand-over and the refund request.

Each form calls one `engine.crm.flows` service (the API's too) with the person as the caller; a
refusal is shown next to its field, another agency's id is a 404, a viewer's forged form a 403.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.params import FromPath
from litestar.response import Redirect
from msgspec import Struct

from api.pro import web
from api.pro.contacts import PARIS, contact_page
from api.pro.web import CsrfForm, FormOf
from engine.crm import flows
from engine.errors import Conflict, Forbidden, NotFound, RuleViolation
from engine.people.sessions import SignedIn
from engine.refunds.flows import ask_refund


class InteractionForm(Struct):
    kind: str = ""
    body: str = ""
    csrf: str = ""


class ReminderForm(Struct):
    due_date: str = ""
    due_time: str = ""
    note: str = ""
    person_id: str = ""
    csrf: str = ""


class AppointmentForm(Struct):
    day: str = ""
    starts: str = ""
    ends: str = ""
    place: str = ""
    note: str = ""
    person_id: str = ""
    csrf: str = ""


class AssignForm(Struct):
    person_id: str = ""
    note: str = ""
    csrf: str = ""


class RefundForm(Struct):
    reason: str = ""
    comment: str = ""
    csrf: str = ""


def _moment(day: str, clock: str, field: str) -> datetime:
    """A date and time typed in Paris time (the page's inputs)."""
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), PARIS)
    except ValueError:
        raise RuleViolation.at(field, "invalid_time", "A date and a time.") from None


def _times(data: AppointmentForm) -> tuple[datetime, datetime]:
    """An appointment's start and end as typed (one hour when no end is given)."""
    starts = _moment(data.day, data.starts, "starts_at")
    ends = _moment(data.day, data.ends, "ends_at") if data.ends else starts + timedelta(hours=1)
    return starts, ends


def _person(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        raise RuleViolation.at("person_id", "unknown_person", "Choose a collaborator.") from None


def _fields(refused: RuleViolation) -> dict[str, str]:
    return {e.path.split("[")[0]: e.code for e in refused.errors}


class ContactWorkPages(Controller):
    path = "/pro"
    include_in_schema = False

    @post("/contacts/{purchase_id:uuid}/interactions", sync_to_thread=True, status_code=303)
    def log(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        data: FormOf[InteractionForm],
    ) -> Response[Any]:  # fmt: skip
        return self._act(
            request, purchase_id, data, "logged", "log",
            lambda caller: flows.log_interaction(caller, purchase_id, data.kind, data.body),
        )  # fmt: skip

    @post("/contacts/{purchase_id:uuid}/reminders", sync_to_thread=True, status_code=303)
    def remind(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        data: FormOf[ReminderForm],
    ) -> Response[Any]:  # fmt: skip
        return self._act(
            request, purchase_id, data, "reminder", "reminder",
            lambda caller: flows.add_reminder(
                caller, purchase_id, _moment(data.due_date, data.due_time, "due_at"), data.note,
                _person(data.person_id),
            ),
        )  # fmt: skip

    @post("/contacts/{purchase_id:uuid}/appointments", sync_to_thread=True, status_code=303)
    def appoint(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        data: FormOf[AppointmentForm],
    ) -> Response[Any]:  # fmt: skip
        def add(caller: Any) -> Any:
            starts, ends = _times(data)
            return flows.add_appointment(
                caller, purchase_id, starts, ends, data.place, data.note, _person(data.person_id)
            )

        return self._act(request, purchase_id, data, "appointment", "appointment", add)

    @post(
        "/contacts/{purchase_id:uuid}/interactions/{interaction_id:uuid}",
        sync_to_thread=True, status_code=303,
    )  # fmt: skip
    def correct(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        interaction_id: FromPath[uuid.UUID], data: FormOf[InteractionForm],
    ) -> Response[Any]:  # fmt: skip
        return self._act(
            request, purchase_id, data, "corrected", f"entry-{interaction_id}",
            lambda caller: flows.correct_interaction(
                caller, purchase_id, interaction_id, data.kind, data.body
            ),
        )  # fmt: skip

    @post(
        "/contacts/{purchase_id:uuid}/interactions/{interaction_id:uuid}/delete",
        sync_to_thread=True, status_code=303,
    )  # fmt: skip
    def delete_entry(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        interaction_id: FromPath[uuid.UUID], data: FormOf[CsrfForm],
    ) -> Response[Any]:  # fmt: skip
        return self._act(
            request, purchase_id, data, "deleted", "timeline",
            lambda caller: flows.delete_interaction(caller, purchase_id, interaction_id),
        )  # fmt: skip

    @post(
        "/contacts/{purchase_id:uuid}/reminders/{reminder_id:uuid}",
        sync_to_thread=True, status_code=303,
    )  # fmt: skip
    def edit_reminder(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        reminder_id: FromPath[uuid.UUID], data: FormOf[ReminderForm],
    ) -> Response[Any]:  # fmt: skip
        return self._act(
            request, purchase_id, data, "reminder-edited", f"reminder-{reminder_id}",
            lambda caller: flows.edit_reminder(
                caller, purchase_id, reminder_id,
                _moment(data.due_date, data.due_time, "due_at"), data.note,
            ),
        )  # fmt: skip

    @post(
        "/contacts/{purchase_id:uuid}/reminders/{reminder_id:uuid}/delete",
        sync_to_thread=True, status_code=303,
    )  # fmt: skip
    def delete_reminder(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        reminder_id: FromPath[uuid.UUID], data: FormOf[CsrfForm],
    ) -> Response[Any]:  # fmt: skip
        return self._act(
            request, purchase_id, data, "reminder-deleted", "reminders",
            lambda caller: flows.delete_reminder(caller, purchase_id, reminder_id),
        )  # fmt: skip

    @post(
        "/contacts/{purchase_id:uuid}/appointments/{appointment_id:uuid}",
        sync_to_thread=True, status_code=303,
    )  # fmt: skip
    def reschedule(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        appointment_id: FromPath[uuid.UUID], data: FormOf[AppointmentForm],
    ) -> Response[Any]:  # fmt: skip
        def move(caller: Any) -> Any:
            starts, ends = _times(data)
            return flows.reschedule_appointment(
                caller, purchase_id, appointment_id, starts, ends, data.place, data.note
            )

        return self._act(
            request, purchase_id, data, "rescheduled", f"appointment-{appointment_id}", move
        )

    @post(
        "/contacts/{purchase_id:uuid}/appointments/{appointment_id:uuid}/cancel",
        sync_to_thread=True, status_code=303,
    )  # fmt: skip
    def cancel(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        appointment_id: FromPath[uuid.UUID], data: FormOf[CsrfForm],
    ) -> Response[Any]:  # fmt: skip
        return self._act(
            request, purchase_id, data, "cancelled", "appointment",
            lambda caller: flows.cancel_appointment(caller, purchase_id, appointment_id),
        )  # fmt: skip

    @post("/contacts/{purchase_id:uuid}/assign", sync_to_thread=True, status_code=303)
    def assign(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        data: FormOf[AssignForm],
    ) -> Response[Any]:  # fmt: skip
        return self._act(
            request, purchase_id, data, "assigned", "assign",
            lambda caller: flows.assign_contact(
                caller, purchase_id, _person(data.person_id) or uuid.UUID(int=0), data.note
            ),
        )  # fmt: skip

    @post("/contacts/{purchase_id:uuid}/refund", sync_to_thread=True, status_code=303)
    def refund(
        self, request: Request[Any, Any, Any], purchase_id: FromPath[uuid.UUID],
        data: FormOf[RefundForm],
    ) -> Response[Any]:  # fmt: skip
        def ask(caller: Any) -> Any:
            calls = flows.read_contact_file(caller, purchase_id).refund.calls
            return ask_refund(caller, purchase_id, data.reason, data.comment, calls)

        return self._act(request, purchase_id, data, "refund", "refund", ask)

    def _act(
        self, request: Request[Any, Any, Any], purchase_id: uuid.UUID, data: Any, done: str,
        form: str, action: Any,
    ) -> Response[Any]:  # fmt: skip
        """Calls the service; a refusal shows the contact's page again, the form as it was sent
        and the message next to its field."""
        person = web.gate(request, data.csrf)
        if not isinstance(person, SignedIn):
            return person
        try:
            action(person.caller)
        except NotFound:
            return web.render(request, "not_found.html", person, 404)
        except Forbidden:
            return web.render(request, "refused.html", person, 403)
        except RuleViolation as refused:
            return contact_page(request, person, purchase_id, 422, _fields(refused), form=form,
                                sent=data)  # fmt: skip
        except Conflict as refused:
            return contact_page(request, person, purchase_id, 409, {"form": refused.code},
                                form=form, sent=data)  # fmt: skip
        return Redirect(f"/pro/contacts/{purchase_id}?done={done}#{form}", status_code=303)
