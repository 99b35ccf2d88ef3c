"""Appointments of the agency's people with a homeowner, each about one bought contact. An
appointment is for one person of the agency (the caller unless another is named); another
agency's purchase or appointment answers 404. It is moved or cancelled, never deleted (kept,
marked, its SEQUENCE raised for calendars).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.crm.assignment import CONTACT, TOWN, whose
from engine.crm.timeline import purchase_row
from engine.errors import Conflict, FieldError, NotFound, RuleViolation

PLACE_MAX = 300
APPOINTMENT_NOTE_MAX = 1000
LONGEST_APPOINTMENT = timedelta(hours=12)


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
    person = whose(session, caller, person_id)
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


_APPOINTMENTS = f"""
    SELECT a.id, a.purchase_id, a.person_id, u.name AS person, a.starts_at, a.ends_at, a.place,
           a.note, {CONTACT} AS contact, {TOWN} AS town, a.sequence, a.cancelled_at
    FROM appointment a
    JOIN purchase p ON p.id = a.purchase_id
    JOIN agency_user u ON u.id = a.person_id
    JOIN lead l ON l.id = p.lead_id
    JOIN estimation e ON e.id = l.estimation_id
    JOIN commune c ON c.code = e.commune_code
    WHERE p.agency_id = :agency
"""


def appointments(
    session: Session, agency_id: uuid.UUID, where: str, params: dict[str, Any]
) -> list[AppointmentRecord]:
    rows = session.execute(
        text(f"{_APPOINTMENTS} AND {where} ORDER BY a.starts_at, a.id"),
        {"agency": agency_id, **params},
    ).mappings()
    return [AppointmentRecord(**r) for r in rows]
