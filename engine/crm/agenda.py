"""Reminders and appointments of the agency's people, each about one bought contact; a person's
agenda (what is overdue, today and this week); the daily digest of what is due.

A reminder or appointment is for one person of the agency (the caller unless another is named);
another agency's purchase, reminder or appointment answers 404. A reminder is changed or
deleted; an appointment is moved or cancelled (kept, marked, its SEQUENCE raised for calendars).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.config import public_url
from engine.crm.timeline import colleague, purchase_row
from engine.errors import Conflict, FieldError, NotFound, RuleViolation
from engine.notify.outbox import enqueue_mail

PARIS = ZoneInfo("Europe/Paris")
NOTE_MAX = 500
PLACE_MAX = 300
APPOINTMENT_NOTE_MAX = 1000
LONGEST_APPOINTMENT = timedelta(hours=12)


@dataclass(frozen=True)
class Reminder:
    id: uuid.UUID
    purchase_id: uuid.UUID
    person_id: uuid.UUID
    person: str
    due_at: datetime
    note: str
    done_at: datetime | None
    contact: str  # the homeowner's name, or the town once erased
    town: str  # "Rennes (35000)"


@dataclass(frozen=True)
class AppointmentRecord:
    id: uuid.UUID
    purchase_id: uuid.UUID
    person_id: uuid.UUID
    person: str
    starts_at: datetime
    ends_at: datetime
    place: str
    note: str
    contact: str
    town: str
    sequence: int = 0  # iCalendar's SEQUENCE: raised by each reschedule and the cancellation
    cancelled_at: datetime | None = None  # cancelled appointments stay, shown as cancelled


@dataclass(frozen=True)
class Agenda:
    today: date
    overdue: list[Reminder]
    reminders: list[Reminder]  # due from today to the end of the week shown, not done
    appointments: list[AppointmentRecord]  # from today on, the week shown


def _whose(session: Session, caller: Principal, person_id: uuid.UUID | None) -> uuid.UUID:
    chosen = person_id or caller.person_id
    if chosen is None:
        raise RuleViolation.at("person_id", "required", "Name the person it is for.")
    return colleague(session, caller.agency(), chosen).id


def add_reminder(
    session: Session,
    caller: Principal,
    purchase_id: uuid.UUID,
    due_at: datetime,
    note: str,
    person_id: uuid.UUID | None = None,
) -> Reminder:
    caller.require("owner", "buyer")
    note = _reminder_checked(due_at, note)
    purchase_row(session, caller.agency(), purchase_id)
    person = _whose(session, caller, person_id)
    reminder_id = session.execute(
        text("""
            INSERT INTO contact_reminder (purchase_id, person_id, due_at, note)
            VALUES (:purchase, :person, :due, :note) RETURNING id
        """),
        {"purchase": purchase_id, "person": person, "due": due_at, "note": note},
    ).scalar_one()
    record(session, caller, "reminder.added", "purchase", purchase_id, reminder_id=str(reminder_id))
    return _reminders(session, caller.agency(), "r.id = :rid", {"rid": reminder_id})[0]


def _reminder_checked(due_at: datetime, note: str) -> str:
    note = note.strip()
    errors = []
    if not note or len(note) > NOTE_MAX:
        errors.append(FieldError("note", "required", f"What to do, {NOTE_MAX} characters at most."))
    if due_at.tzinfo is None:
        errors.append(FieldError("due_at", "invalid_time", "A time with its offset."))
    if errors:
        raise RuleViolation(errors)
    return note


def _reminder_of(
    session: Session, caller: Principal, purchase_id: uuid.UUID, reminder_id: uuid.UUID
) -> None:
    """Owner or buyer, a reminder of this contact of the agency (locked), else NotFound."""
    caller.require("owner", "buyer")
    purchase_row(session, caller.agency(), purchase_id)
    found = session.execute(
        text("SELECT 1 FROM contact_reminder WHERE id = :id AND purchase_id = :p FOR UPDATE"),
        {"id": reminder_id, "p": purchase_id},
    ).first()
    if found is None:
        raise NotFound("No reminder of your agency has this id.", code="reminder_not_found")


def edit_reminder(
    session: Session,
    caller: Principal,
    purchase_id: uuid.UUID,
    reminder_id: uuid.UUID,
    due_at: datetime,
    note: str,
) -> Reminder:
    """What to do and when, corrected (for whoever it is for)."""
    caller.require("owner", "buyer")
    note = _reminder_checked(due_at, note)
    _reminder_of(session, caller, purchase_id, reminder_id)
    session.execute(
        text("UPDATE contact_reminder SET due_at = :due, note = :note WHERE id = :id"),
        {"due": due_at, "note": note, "id": reminder_id},
    )
    record(session, caller, "reminder.edited", "purchase", purchase_id,
           reminder_id=str(reminder_id))  # fmt: skip
    return _reminders(session, caller.agency(), "r.id = :rid", {"rid": reminder_id})[0]


def delete_reminder(
    session: Session, caller: Principal, purchase_id: uuid.UUID, reminder_id: uuid.UUID
) -> None:
    _reminder_of(session, caller, purchase_id, reminder_id)
    session.execute(text("DELETE FROM contact_reminder WHERE id = :id"), {"id": reminder_id})
    record(session, caller, "reminder.deleted", "purchase", purchase_id,
           reminder_id=str(reminder_id))  # fmt: skip


def mark_reminder(
    session: Session, caller: Principal, reminder_id: uuid.UUID, done: bool
) -> Reminder:
    """Done, or not done after all."""
    caller.require("owner", "buyer")
    changed = session.execute(
        text("""
            UPDATE contact_reminder r
            SET done_at = CASE WHEN :done THEN coalesce(r.done_at, clock_timestamp()) END
            FROM purchase p
            WHERE r.id = :id AND p.id = r.purchase_id AND p.agency_id = :agency
            RETURNING r.purchase_id
        """),
        {"done": done, "id": reminder_id, "agency": caller.agency()},
    ).scalar_one_or_none()
    if changed is None:
        raise NotFound("No reminder of your agency has this id.", code="reminder_not_found")
    record(session, caller, "reminder.marked", "purchase", changed, reminder_id=str(reminder_id),
           done=done)  # fmt: skip
    return _reminders(session, caller.agency(), "r.id = :rid", {"rid": reminder_id})[0]


def add_appointment(
    session: Session,
    caller: Principal,
    purchase_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    place: str,
    note: str,
    person_id: uuid.UUID | None = None,
) -> AppointmentRecord:
    """An appointment with the homeowner; a contact still "new" or "contacted" moves to
    "appointment"."""
    caller.require("owner", "buyer")
    place, note = _appointment_checked(starts_at, ends_at, place, note)
    purchase_row(session, caller.agency(), purchase_id, lock=True)
    person = _whose(session, caller, person_id)
    appointment_id = session.execute(
        text("""
            INSERT INTO appointment (purchase_id, person_id, starts_at, ends_at, place, note)
            VALUES (:purchase, :person, :starts, :ends, :place, :note) RETURNING id
        """),
        {"purchase": purchase_id, "person": person, "starts": starts_at, "ends": ends_at,
         "place": place, "note": note},
    ).scalar_one()  # fmt: skip
    session.execute(
        text("""
            UPDATE purchase SET pipeline_status = 'appointment'
            WHERE id = :id AND pipeline_status IN ('new', 'contacted')
        """),
        {"id": purchase_id},
    )
    record(session, caller, "appointment.added", "purchase", purchase_id,
           appointment_id=str(appointment_id))  # fmt: skip
    return appointments(session, caller.agency(), "a.id = :aid", {"aid": appointment_id})[0]


def _appointment_checked(
    starts_at: datetime, ends_at: datetime, place: str, note: str
) -> tuple[str, str]:
    place, note = place.strip(), note.strip()
    errors = []
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        errors.append(FieldError("starts_at", "invalid_time", "A time with its offset."))
    elif not starts_at < ends_at <= starts_at + LONGEST_APPOINTMENT:
        errors.append(
            FieldError("ends_at", "invalid_duration", "It ends after it starts, within 12 hours.")
        )
    if len(place) > PLACE_MAX:
        errors.append(FieldError("place", "too_long", f"At most {PLACE_MAX} characters."))
    if len(note) > APPOINTMENT_NOTE_MAX:
        errors.append(FieldError("note", "too_long", f"At most {APPOINTMENT_NOTE_MAX} characters."))
    if errors:
        raise RuleViolation(errors)
    return place, note


def _appointment_of(
    session: Session, caller: Principal, purchase_id: uuid.UUID, appointment_id: uuid.UUID
) -> AppointmentRecord:
    """Owner or buyer, an appointment of this contact of the agency (locked), else NotFound."""
    caller.require("owner", "buyer")
    purchase_row(session, caller.agency(), purchase_id)
    session.execute(
        text("SELECT 1 FROM appointment WHERE id = :id AND purchase_id = :p FOR UPDATE"),
        {"id": appointment_id, "p": purchase_id},
    )
    found = appointments(
        session, caller.agency(), "a.id = :aid AND a.purchase_id = :pid",
        {"aid": appointment_id, "pid": purchase_id},
    )  # fmt: skip
    if not found:
        raise NotFound("No appointment of your agency has this id.", code="appointment_not_found")
    return found[0]


def reschedule_appointment(
    session: Session,
    caller: Principal,
    purchase_id: uuid.UUID,
    appointment_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    place: str,
    note: str,
) -> AppointmentRecord:
    """A new time, place or note for the same appointment: its calendar event keeps its UID and
    its SEQUENCE goes up, so calendar applications move it. A cancelled one stays cancelled."""
    caller.require("owner", "buyer")
    place, note = _appointment_checked(starts_at, ends_at, place, note)
    if _appointment_of(session, caller, purchase_id, appointment_id).cancelled_at is not None:
        raise Conflict("This appointment was cancelled: set a new one.", "appointment_cancelled")
    session.execute(
        text("""
            UPDATE appointment
            SET sequence = sequence + CASE WHEN (starts_at, ends_at, place, note)
                                                IS DISTINCT FROM (:starts, :ends, :place, :note)
                                           THEN 1 ELSE 0 END,
                starts_at = :starts, ends_at = :ends, place = :place, note = :note
            WHERE id = :id
        """),
        {"starts": starts_at, "ends": ends_at, "place": place, "note": note, "id": appointment_id},
    )
    record(session, caller, "appointment.rescheduled", "purchase", purchase_id,
           appointment_id=str(appointment_id))  # fmt: skip
    return _appointment_of(session, caller, purchase_id, appointment_id)


def cancel_appointment(
    session: Session, caller: Principal, purchase_id: uuid.UUID, appointment_id: uuid.UUID
) -> AppointmentRecord:
    """Cancelled, not deleted: it stays on the contact's page, and its calendar file and the
    calendar link say CANCELLED with a higher SEQUENCE. Cancelling twice changes nothing."""
    if _appointment_of(session, caller, purchase_id, appointment_id).cancelled_at is None:
        session.execute(
            text("""
                UPDATE appointment SET cancelled_at = clock_timestamp(), sequence = sequence + 1
                WHERE id = :id
            """),
            {"id": appointment_id},
        )
        record(session, caller, "appointment.cancelled", "purchase", purchase_id,
               appointment_id=str(appointment_id))  # fmt: skip
    return _appointment_of(session, caller, purchase_id, appointment_id)


_CONTACT = """coalesce(nullif(concat_ws(' ', l.first_name, l.last_name), ''),
                       c.name || ' (' || e.postal_code || ')')"""
_TOWN = "c.name || ' (' || e.postal_code || ')'"

_REMINDERS = f"""
    SELECT r.id, r.purchase_id, r.person_id, u.name AS person, r.due_at, r.note, r.done_at,
           {_CONTACT} AS contact, {_TOWN} AS town
    FROM contact_reminder r
    JOIN purchase p ON p.id = r.purchase_id
    JOIN agency_user u ON u.id = r.person_id
    JOIN lead l ON l.id = p.lead_id
    JOIN estimation e ON e.id = l.estimation_id
    JOIN commune c ON c.code = e.commune_code
    WHERE p.agency_id = :agency
"""

_APPOINTMENTS = f"""
    SELECT a.id, a.purchase_id, a.person_id, u.name AS person, a.starts_at, a.ends_at, a.place,
           a.note, {_CONTACT} AS contact, {_TOWN} AS town, a.sequence, a.cancelled_at
    FROM appointment a
    JOIN purchase p ON p.id = a.purchase_id
    JOIN agency_user u ON u.id = a.person_id
    JOIN lead l ON l.id = p.lead_id
    JOIN estimation e ON e.id = l.estimation_id
    JOIN commune c ON c.code = e.commune_code
    WHERE p.agency_id = :agency
"""


def _reminders(
    session: Session, agency_id: uuid.UUID, where: str, params: dict[str, Any]
) -> list[Reminder]:
    rows = session.execute(
        text(f"{_REMINDERS} AND {where} ORDER BY r.done_at IS NOT NULL, r.due_at, r.id"),
        {"agency": agency_id, **params},
    ).mappings()
    return [Reminder(**r) for r in rows]


def appointments(
    session: Session, agency_id: uuid.UUID, where: str, params: dict[str, Any]
) -> list[AppointmentRecord]:
    rows = session.execute(
        text(f"{_APPOINTMENTS} AND {where} ORDER BY a.starts_at, a.id"),
        {"agency": agency_id, **params},
    ).mappings()
    return [AppointmentRecord(**r) for r in rows]


def of_purchase(
    session: Session, agency_id: uuid.UUID, purchase_id: uuid.UUID
) -> tuple[list[Reminder], list[AppointmentRecord]]:
    where = {"pid": purchase_id}
    return (
        _reminders(session, agency_id, "r.purchase_id = :pid", where),
        appointments(session, agency_id, "a.purchase_id = :pid", where),
    )


def day_bounds(day: date, days: int = 1) -> tuple[datetime, datetime]:
    """From midnight of `day` to midnight `days` later, Paris time."""
    start = datetime.combine(day, time(0), PARIS)
    return start, datetime.combine(day + timedelta(days=days), time(0), PARIS)


def agenda(
    session: Session, agency_id: uuid.UUID, person_id: uuid.UUID, today: date, days: int = 7
) -> Agenda:
    start, end = day_bounds(today, days)
    mine = {"person": person_id, "start": start, "end": end}
    return Agenda(
        today,
        _reminders(session, agency_id,
                   "r.person_id = :person AND r.done_at IS NULL AND r.due_at < :start", mine),
        _reminders(session, agency_id,
                   "r.person_id = :person AND r.done_at IS NULL AND r.due_at >= :start "
                   "AND r.due_at < :end", mine),
        appointments(session, agency_id,
                     "a.person_id = :person AND a.cancelled_at IS NULL AND a.ends_at > :start "
                     "AND a.starts_at < :end", mine),
    )  # fmt: skip


_DUE_TODAY = text("""
    SELECT u.id, u.agency_id, u.email, u.lang
    FROM agency_user u
    WHERE u.disabled_at IS NULL AND u.password_hash IS NOT NULL
      AND (EXISTS (SELECT 1 FROM contact_reminder r
                   WHERE r.person_id = u.id AND r.done_at IS NULL AND r.due_at < :end)
           OR EXISTS (SELECT 1 FROM appointment a
                      WHERE a.person_id = u.id AND a.cancelled_at IS NULL
                        AND a.starts_at >= :start AND a.starts_at < :end))
      AND NOT EXISTS (SELECT 1 FROM agenda_digest d WHERE d.person_id = u.id AND d.day = :day)
""")


def send_digests(session: Session, today: date) -> int:
    """One e-mail per person with something due today (reminders, overdue ones included, and
    the day's appointments), at most once a day per person, however many jobs run: the digest
    row is taken first and the e-mail written in the same transaction. How many were sent.

    The e-mail says when and where (the town), never who or what was written about them: an
    erasure could not reach a sent e-mail; the agenda page has the rest."""
    start, end = day_bounds(today)
    sent = 0
    for person in session.execute(_DUE_TODAY, {"start": start, "end": end, "day": today}).all():
        taken = session.execute(
            text("""
                INSERT INTO agenda_digest (person_id, day) VALUES (:person, :day)
                ON CONFLICT DO NOTHING RETURNING person_id
            """),
            {"person": person.id, "day": today},
        ).first()
        if taken is None:
            continue
        day_agenda = agenda(session, person.agency_id, person.id, today, days=1)
        enqueue_mail(
            session, person.email, "agenda.digest", f"{person.id}:{today.isoformat()}",
            _digest_subject(day_agenda, person.lang), _digest_text(day_agenda, person.lang),
        )  # fmt: skip
        sent += 1
    return sent


def _hm(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%H:%M")


def _digest_subject(day: Agenda, lang: str) -> str:
    count = len(day.overdue) + len(day.reminders) + len(day.appointments)
    if lang == "en":
        return f"Your day on Mandat: {count} thing{'s' if count > 1 else ''} to do"
    return f"Votre journée sur Mandat : {count} à faire"


def _digest_text(day: Agenda, lang: str) -> str:
    en = lang == "en"
    lines = ["Hello," if en else "Bonjour,", ""]
    if day.appointments:
        lines.append("Appointments today:" if en else "Rendez-vous du jour :")
        lines += [f"- {_hm(a.starts_at)}–{_hm(a.ends_at)}, {a.town}" for a in day.appointments]
        lines.append("")
    if day.overdue:
        lines.append("Overdue reminders:" if en else "Rappels en retard :")
        lines += [f"- {r.town}" for r in day.overdue]
        lines.append("")
    if day.reminders:
        lines.append("Reminders today:" if en else "Rappels du jour :")
        lines += [f"- {_hm(r.due_at)}, {r.town}" for r in day.reminders]
        lines.append("")
    lines.append(("Your agenda: " if en else "Votre agenda : ") + f"{public_url()}/pro/agenda")
    lines.append("— Mandat")
    return "\n".join(lines)
