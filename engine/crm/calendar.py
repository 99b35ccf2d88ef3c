"""Appointments as iCalendar (RFC 5545): one appointment's `.ics` file, and each person's secret
calendar feed link, which a calendar application subscribes to.

The link holds a random token; only its SHA-256 is stored. Making a new link replaces the old
one, removing it revokes it, and it stops working when the person is removed from the agency.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime

from icalendar import Calendar, Event
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.config import public_url
from engine.crm.appointments import AppointmentRecord, appointments
from engine.errors import NotFound

PRODID = "-//Mandat//Espace Pro//FR"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def to_ics(items: list[AppointmentRecord], name: str, method: str | None = None) -> bytes:
    """Each appointment an event of UID `<id>@mandat`, its SEQUENCE raised by every reschedule
    and the cancellation; a cancelled one says STATUS:CANCELLED (and the file of that one
    appointment METHOD:CANCEL), so a calendar application updates or removes its event."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    calendar.add("x-wr-calname", name)
    stamp = datetime.now(UTC)
    for item in items:
        event = Event()
        event.add("uid", f"{item.id}@mandat")
        event.add("dtstamp", stamp)
        event.add("sequence", item.sequence)
        event.add("status", "CANCELLED" if item.cancelled_at else "CONFIRMED")
        event.add("dtstart", item.starts_at.astimezone(UTC))
        event.add("dtend", item.ends_at.astimezone(UTC))
        event.add("summary", f"Mandat — {item.contact}")
        if item.place:
            event.add("location", item.place)
        description = f"{public_url()}/pro/contacts/{item.purchase_id}"
        event.add("description", f"{item.note}\n{description}" if item.note else description)
        calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical


def appointment_ics(
    session: Session, agency_id: uuid.UUID, purchase_id: uuid.UUID, appointment_id: uuid.UUID
) -> bytes:
    found = appointments(
        session, agency_id, "a.id = :aid AND a.purchase_id = :pid",
        {"aid": appointment_id, "pid": purchase_id},
    )  # fmt: skip
    if not found:
        raise NotFound("No appointment of your agency has this id.", code="appointment_not_found")
    return to_ics(found, "Mandat", "CANCEL" if found[0].cancelled_at else None)


def new_feed(session: Session, person_id: uuid.UUID) -> str:
    """A new link for this person (the previous one stops working): the token, shown once."""
    token = secrets.token_urlsafe(32)
    session.execute(
        text("""
            INSERT INTO calendar_feed (person_id, token_hash) VALUES (:person, :hash)
            ON CONFLICT (person_id) DO UPDATE SET token_hash = excluded.token_hash,
                                                  created_at = now()
        """),
        {"person": person_id, "hash": token_hash(token)},
    )
    return token


def revoke_feed(session: Session, person_id: uuid.UUID) -> None:
    session.execute(text("DELETE FROM calendar_feed WHERE person_id = :p"), {"p": person_id})


def feed_created_at(session: Session, person_id: uuid.UUID) -> datetime | None:
    created: datetime | None = session.execute(
        text("SELECT created_at FROM calendar_feed WHERE person_id = :p"), {"p": person_id}
    ).scalar_one_or_none()
    return created


def feed(session: Session, token: str) -> bytes:
    """Every appointment of the link's person, or NotFound (unknown, replaced, revoked, or the
    person removed)."""
    person = session.execute(
        text("""
            SELECT u.id, u.agency_id, u.name FROM calendar_feed f
            JOIN agency_user u ON u.id = f.person_id
            WHERE f.token_hash = :hash AND u.disabled_at IS NULL
        """),
        {"hash": token_hash(token[:100])},
    ).one_or_none()
    if person is None:
        raise NotFound("This calendar link is not valid.", code="calendar_not_found")
    items = appointments(session, person.agency_id, "a.person_id = :p", {"p": person.id})
    return to_ics(items, f"Mandat — {person.name}")


def feed_url(token: str) -> str:
    return f"{public_url()}/pro/calendar/{token}.ics"
