"""What an agency writes while it works a bought contact: the interactions of its timeline, the
reminders and appointments of its people, the calendar feed links, and the daily digests sent.

Everything hangs off the purchase (deleted with it) and names the person concerned; a calendar
feed link is a random token of which only the SHA-256 is stored.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.people import models as _people  # noqa: F401 - the tables our foreign keys name
from engine.sales import models as _sales  # noqa: F401

# What a person logs; `assigned` is written when a contact is handed to a collaborator.
LOGGED_KINDS = ("call", "email", "visit", "note")
INTERACTION_KINDS = (*LOGGED_KINDS, "assigned")
# The interactions that count as contacting the homeowner (speed to lead).
CONTACT_KINDS = ("call", "email")


class ContactInteraction(Base):
    __tablename__ = "contact_interaction"
    __table_args__ = (
        CheckConstraint(f"kind IN {INTERACTION_KINDS!r}", name="kind"),
        CheckConstraint("length(body) <= 5000", name="body_length"),
        Index("ix_contact_interaction_purchase", "purchase_id", "occurred_at"),
        Index("ix_contact_interaction_person", "person_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text, server_default=text("''"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Who logged it: a person of the agency, or an API key.
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agency_user.id", ondelete="SET NULL")
    )
    key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_key.id", ondelete="SET NULL"))
    # When it was last corrected (by the person who logged it, or an owner).
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContactReminder(Base):
    __tablename__ = "contact_reminder"
    __table_args__ = (
        CheckConstraint("length(note) BETWEEN 1 AND 500", name="note_length"),
        Index("ix_contact_reminder_person_due", "person_id", "due_at"),
        Index("ix_contact_reminder_purchase", "purchase_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency_user.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Appointment(Base):
    __tablename__ = "appointment"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("length(place) <= 300 AND length(note) <= 1000", name="lengths"),
        CheckConstraint("sequence >= 0", name="sequence"),
        Index("ix_appointment_person_starts", "person_id", "starts_at"),
        Index("ix_appointment_purchase", "purchase_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency_user.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    place: Mapped[str] = mapped_column(Text, server_default=text("''"))
    note: Mapped[str] = mapped_column(Text, server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # iCalendar's SEQUENCE: raised by every reschedule and by the cancellation, so a calendar
    # application updates its event (same UID) instead of adding another.
    sequence: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Cancelled appointments stay, shown as cancelled (and STATUS:CANCELLED in calendars).
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CalendarFeed(Base):
    """A person's secret calendar link (at most one; a new one replaces it, removing revokes)."""

    __tablename__ = "calendar_feed"

    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency_user.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AgendaDigest(Base):
    """The daily digest sent to a person: one per person and day, whoever runs the job."""

    __tablename__ = "agenda_digest"

    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency_user.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
