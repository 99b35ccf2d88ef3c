"""Shapes of a bought contact's timeline and reminders."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from api.schemas import Out, Request

LoggedKind = Literal["call", "email", "visit", "note"]


class InteractionIn(Request):
    kind: LoggedKind
    body: Annotated[str, Meta(max_length=5000)] = ""


class InteractionOut(Out):
    """One entry of the timeline; `by` is the person's name, none when logged with a key."""

    id: uuid.UUID
    kind: Literal["call", "email", "visit", "note", "assigned"]
    body: str
    occurred_at: datetime
    by: str | None


class ReminderIn(Request):
    due_at: Annotated[datetime, Meta(tz=True)]
    note: Annotated[str, Meta(min_length=1, max_length=500)]
    # The owner or buyer of your agency it is for (required with an API key).
    person_id: uuid.UUID | None = None


class ReminderOut(Out):
    id: uuid.UUID
    purchase_id: uuid.UUID
    person_id: uuid.UUID
    person: str
    due_at: datetime
    note: str
    done_at: datetime | None
    contact: str
    town: str
