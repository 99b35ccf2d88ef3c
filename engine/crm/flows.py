"""Working bought contacts, as the agency's pages and the API use it: each service owns its unit
of work and reads the agency from the caller, so one agency never sees another's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text

from engine.accounts.keys import Principal
from engine.audit import record
from engine.crm import agenda as agenda_rules
from engine.crm import appointments, calendar, reminders, speed, timeline
from engine.crm.agenda import Agenda
from engine.crm.appointments import AppointmentRecord
from engine.crm.contact_file import ContactFile, contact_file
from engine.crm.reminders import Reminder
from engine.crm.timeline import Interaction
from engine.db import retried, unit_of_work
from engine.errors import Forbidden
from engine.sales.contacts import list_purchases
from engine.sales.models import PIPELINE
from engine.sales.read_models import PurchasedLead
from engine.settings import read_settings


@retried
def read_contact_file(caller: Principal, purchase_id: uuid.UUID) -> ContactFile:
    with unit_of_work() as session:
        return contact_file(session, caller.agency(), purchase_id)


@retried
def log_interaction(caller: Principal, purchase_id: uuid.UUID, kind: str, body: str) -> Interaction:
    """Owner or buyer: a call, e-mail, visit or note on the contact's timeline. The first call
    or e-mail is the contact's first contact (speed to lead)."""
    with unit_of_work() as session:
        return timeline.log_interaction(session, caller, purchase_id, kind, body)


@retried
def correct_interaction(
    caller: Principal, purchase_id: uuid.UUID, interaction_id: uuid.UUID, kind: str, body: str
) -> Interaction:
    """Its author, or an owner: what was logged, corrected (the first contact follows)."""
    with unit_of_work() as session:
        return timeline.correct_interaction(
            session, caller, purchase_id, interaction_id, kind, body
        )


@retried
def delete_interaction(
    caller: Principal, purchase_id: uuid.UUID, interaction_id: uuid.UUID
) -> None:
    """Its author, or an owner: an entry logged by mistake, removed."""
    with unit_of_work() as session:
        timeline.delete_interaction(session, caller, purchase_id, interaction_id)


@retried
def read_timeline(caller: Principal, purchase_id: uuid.UUID) -> list[Interaction]:
    with unit_of_work() as session:
        return timeline.timeline(session, caller.agency(), purchase_id)


@retried
def assign_contact(
    caller: Principal, purchase_id: uuid.UUID, person_id: uuid.UUID, note: str
) -> Interaction:
    with unit_of_work() as session:
        return timeline.assign(session, caller, purchase_id, person_id, note)


@retried
def add_reminder(
    caller: Principal,
    purchase_id: uuid.UUID,
    due_at: datetime,
    note: str,
    person_id: uuid.UUID | None = None,
) -> Reminder:
    with unit_of_work() as session:
        return reminders.add_reminder(session, caller, purchase_id, due_at, note, person_id)


@retried
def mark_reminder(caller: Principal, reminder_id: uuid.UUID, done: bool) -> Reminder:
    with unit_of_work() as session:
        return reminders.mark_reminder(session, caller, reminder_id, done)


@retried
def edit_reminder(
    caller: Principal,
    purchase_id: uuid.UUID,
    reminder_id: uuid.UUID,
    due_at: datetime,
    note: str,
) -> Reminder:
    with unit_of_work() as session:
        return reminders.edit_reminder(session, caller, purchase_id, reminder_id, due_at, note)


@retried
def delete_reminder(caller: Principal, purchase_id: uuid.UUID, reminder_id: uuid.UUID) -> None:
    with unit_of_work() as session:
        reminders.delete_reminder(session, caller, purchase_id, reminder_id)


@retried
def add_appointment(
    caller: Principal,
    purchase_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    place: str,
    note: str,
    person_id: uuid.UUID | None = None,
) -> AppointmentRecord:
    with unit_of_work() as session:
        return appointments.add_appointment(
            session, caller, purchase_id, starts_at, ends_at, place, note, person_id
        )


@retried
def reschedule_appointment(
    caller: Principal,
    purchase_id: uuid.UUID,
    appointment_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    place: str,
    note: str,
) -> AppointmentRecord:
    with unit_of_work() as session:
        return appointments.reschedule_appointment(
            session, caller, purchase_id, appointment_id, starts_at, ends_at, place, note
        )


@retried
def cancel_appointment(
    caller: Principal, purchase_id: uuid.UUID, appointment_id: uuid.UUID
) -> AppointmentRecord:
    with unit_of_work() as session:
        return appointments.cancel_appointment(session, caller, purchase_id, appointment_id)


@retried
def appointment_ics(caller: Principal, purchase_id: uuid.UUID, appointment_id: uuid.UUID) -> bytes:
    with unit_of_work() as session:
        return calendar.appointment_ics(session, caller.agency(), purchase_id, appointment_id)


@retried
def my_agenda(caller: Principal, today: date) -> Agenda:
    """The signed-in person's overdue reminders, and the week's reminders and appointments."""
    if caller.person_id is None:
        raise Forbidden("The agenda is a person's.", code="person_required")
    with unit_of_work() as session:
        return agenda_rules.agenda(session, caller.agency(), caller.person_id, today)


@dataclass(frozen=True)
class FeedLink:
    url: str | None  # shown once, right after it is made
    since: datetime | None  # when the current link was made; None: no link


@retried
def calendar_link(caller: Principal) -> FeedLink:
    if caller.person_id is None:
        return FeedLink(None, None)
    with unit_of_work() as session:
        return FeedLink(None, calendar.feed_created_at(session, caller.person_id))


@retried
def new_calendar_link(caller: Principal) -> FeedLink:
    """A new secret link to the person's appointments; the previous one stops working."""
    if caller.person_id is None:
        raise Forbidden("A calendar link is a person's.", code="person_required")
    with unit_of_work() as session:
        token = calendar.new_feed(session, caller.person_id)
        record(session, caller, "calendar_link.made", "agency_user", caller.person_id)
        return FeedLink(
            calendar.feed_url(token), calendar.feed_created_at(session, caller.person_id)
        )


@retried
def revoke_calendar_link(caller: Principal) -> None:
    if caller.person_id is None:
        raise Forbidden("A calendar link is a person's.", code="person_required")
    with unit_of_work() as session:
        calendar.revoke_feed(session, caller.person_id)
        record(session, caller, "calendar_link.revoked", "agency_user", caller.person_id)


@retried
def calendar_feed(token: str) -> bytes:
    """The appointments behind a secret link (no session: the link is the key)."""
    with unit_of_work() as session:
        return calendar.feed(session, token)


BOARD_SIZE = 200


@dataclass(frozen=True)
class Board:
    columns: dict[str, list[PurchasedLead]]
    more: bool  # more contacts than shown (the newest BOARD_SIZE are)


@retried
def board(caller: Principal) -> Board:
    """The agency's contacts by pipeline stage, newest first."""
    with unit_of_work() as session:
        page = list_purchases(session, caller.agency(), BOARD_SIZE, None)
    columns: dict[str, list[PurchasedLead]] = {stage: [] for stage in PIPELINE}
    for lead in page.items:
        columns[lead.pipeline_status].append(lead)
    return Board(columns, page.next_cursor is not None)


@retried
def team_speed(caller: Principal) -> dict[uuid.UUID, speed.Speed]:
    with unit_of_work() as session:
        return speed.team_speed(session, caller.agency())


@retried
def remind_waiting_contacts() -> dict[str, int]:
    """The scheduler's speed-to-lead job."""
    with unit_of_work() as session:
        now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        return speed.remind_waiting_contacts(session, now, read_settings(session))


@retried
def send_agenda_digests(today: date) -> int:
    """The scheduler's daily digest job (idempotent per person and day)."""
    with unit_of_work() as session:
        return agenda_rules.send_digests(session, today)
