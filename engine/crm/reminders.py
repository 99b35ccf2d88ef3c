"""Reminders of the agency's people, each about one bought contact: added, changed, deleted,
marked done. A reminder is for one person of the agency (the caller unless another is named);
another agency's purchase or reminder answers 404.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.crm.assignment import CONTACT, TOWN, whose
from engine.crm.timeline import purchase_row
from engine.errors import FieldError, NotFound, RuleViolation

NOTE_MAX = 500


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
    person = whose(session, caller, person_id)
    reminder_id = session.execute(
        text("""
            INSERT INTO contact_reminder (purchase_id, person_id, due_at, note)
            VALUES (:purchase, :person, :due, :note) RETURNING id
        """),
        {"purchase": purchase_id, "person": person, "due": due_at, "note": note},
    ).scalar_one()
    record(session, caller, "reminder.added", "purchase", purchase_id, reminder_id=str(reminder_id))
    return reminders(session, caller.agency(), "r.id = :rid", {"rid": reminder_id})[0]


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
    return reminders(session, caller.agency(), "r.id = :rid", {"rid": reminder_id})[0]


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
    return reminders(session, caller.agency(), "r.id = :rid", {"rid": reminder_id})[0]


_REMINDERS = f"""
    SELECT r.id, r.purchase_id, r.person_id, u.name AS person, r.due_at, r.note, r.done_at,
           {CONTACT} AS contact, {TOWN} AS town
    FROM contact_reminder r
    JOIN purchase p ON p.id = r.purchase_id
    JOIN agency_user u ON u.id = r.person_id
    JOIN lead l ON l.id = p.lead_id
    JOIN estimation e ON e.id = l.estimation_id
    JOIN commune c ON c.code = e.commune_code
    WHERE p.agency_id = :agency
"""


def reminders(
    session: Session, agency_id: uuid.UUID, where: str, params: dict[str, Any]
) -> list[Reminder]:
    rows = session.execute(
        text(f"{_REMINDERS} AND {where} ORDER BY r.done_at IS NOT NULL, r.due_at, r.id"),
        {"agency": agency_id, **params},
    ).mappings()
    return [Reminder(**r) for r in rows]
