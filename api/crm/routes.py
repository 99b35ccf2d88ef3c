"""A bought contact's timeline (log a call, an e-mail, a visit or a note; read it) and its
reminders, with the same services as Espace Pro's contact page."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from api.auth import Caller, principal
from api.contract import AGENCY_KEY, KEYED, UNREADABLE, not_found, operation
from api.crm.schemas import InteractionIn, InteractionOut, ReminderIn, ReminderOut
from api.schemas import shaped
from engine.crm.flows import add_reminder, log_interaction, read_timeline


class ContactWorkController(Controller):
    path = "/api/v1/purchases/{purchase_id:uuid}"
    tags = ["leads"]
    security = [{"BearerAuth": []}]
    dependencies = {"caller": Provide(principal, sync_to_thread=True)}

    @get(
        "/interactions",
        sync_to_thread=True,
        summary="The timeline of a purchased lead, newest first",
        **operation("listInteractions", *KEYED, AGENCY_KEY, not_found("purchase_not_found")),
    )
    def interactions(
        self, caller: Caller, purchase_id: FromPath[uuid.UUID]
    ) -> list[InteractionOut]:
        return shaped(read_timeline(caller, purchase_id), list[InteractionOut])

    @post(
        "/interactions",
        sync_to_thread=True,
        status_code=201,
        summary="Log a call, e-mail, visit or note (the first call or e-mail is the first contact)",
        **operation(
            "logInteraction", *KEYED, AGENCY_KEY, UNREADABLE, not_found("purchase_not_found")
        ),
    )
    def log(
        self, caller: Caller, purchase_id: FromPath[uuid.UUID], data: JSONBody[InteractionIn]
    ) -> InteractionOut:
        """Owner or buyer. A contact still `new` moves to `contacted` with its first call or
        e-mail."""
        return shaped(log_interaction(caller, purchase_id, data.kind, data.body), InteractionOut)

    @post(
        "/reminders",
        sync_to_thread=True,
        status_code=201,
        summary="Set a reminder on a purchased lead for a person of your agency",
        **operation("addReminder", *KEYED, AGENCY_KEY, UNREADABLE, not_found("purchase_not_found")),
    )
    def remind(
        self, caller: Caller, purchase_id: FromPath[uuid.UUID], data: JSONBody[ReminderIn]
    ) -> ReminderOut:
        """Owner or buyer. With a key, `person_id` names the owner or buyer it is for; it shows
        in their Espace Pro agenda and daily digest."""
        reminder = add_reminder(caller, purchase_id, data.due_at, data.note, data.person_id)
        return shaped(reminder, ReminderOut)
