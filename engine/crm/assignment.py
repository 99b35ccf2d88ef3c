"""What reminders and appointments share: the person of the agency each is for, and how its
contact and town read once joined."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.crm.timeline import colleague
from engine.errors import RuleViolation


def whose(session: Session, caller: Principal, person_id: uuid.UUID | None) -> uuid.UUID:
    chosen = person_id or caller.person_id
    if chosen is None:
        raise RuleViolation.at("person_id", "required", "Name the person it is for.")
    return colleague(session, caller.agency(), chosen).id


CONTACT = """coalesce(nullif(concat_ws(' ', l.first_name, l.last_name), ''),
                       c.name || ' (' || e.postal_code || ')')"""
TOWN = "c.name || ' (' || e.postal_code || ')'"
