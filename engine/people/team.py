"""An agency's people: the team list, offboarding, who may sign in with an address.

Inviting people is invitations.py, password resets resets.py. Offboarding ends the person's
sessions at once and uses up their links.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.audit import record
from engine.db import unit_of_work
from engine.errors import Conflict, Forbidden, NotFound
from engine.people import sessions
from engine.people.sessions import SignedIn


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    name: str
    email: str
    role: str
    status: str  # invited, active, disabled
    created_at: datetime
    last_seen_at: datetime | None
    is_me: bool


def active_person(session: Session, email: str) -> Any:
    """The person (id, email, password_hash) who may sign in with this address, or None."""
    return session.execute(
        text("""
            SELECT id, email, password_hash FROM agency_user
            WHERE email_key = :email AND disabled_at IS NULL
        """),
        {"email": email.strip().lower()},
    ).one_or_none()


def members(viewer: SignedIn) -> list[Member]:
    """The agency's people, owners first, with their status and last activity."""
    with unit_of_work() as session:
        rows = session.execute(
            text("""
                SELECT id, name, email, role, created_at, last_seen_at,
                       CASE WHEN disabled_at IS NOT NULL THEN 'disabled'
                            WHEN password_hash IS NULL THEN 'invited' ELSE 'active' END AS status
                FROM agency_user WHERE agency_id = :agency
                ORDER BY disabled_at IS NOT NULL, array_position(ARRAY['owner', 'buyer', 'viewer'],
                         role::text), lower(name)
            """),
            {"agency": viewer.agency_id},
        ).all()
    return [
        Member(r.id, r.name, r.email, r.role, r.status, r.created_at, r.last_seen_at,
               r.id == viewer.user_id)
        for r in rows
    ]  # fmt: skip


def disable(owner: SignedIn, person_id: uuid.UUID) -> None:
    """Offboarding: the person can no longer sign in, and every session of theirs ends now."""
    if owner.role != "owner":
        raise Forbidden("Only an owner removes collaborators.", code="owner_only")
    if person_id == owner.user_id:
        raise Conflict("You cannot remove yourself.", code="own_account")
    with unit_of_work() as session:
        done = session.execute(
            text("""
                UPDATE agency_user SET disabled_at = clock_timestamp()
                WHERE id = :id AND agency_id = :agency AND disabled_at IS NULL
            """),
            {"id": person_id, "agency": owner.agency_id},
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound("No collaborator of yours has this id.", code="person_not_found")
        sessions.revoke_all(session, person_id)
        session.execute(
            text("UPDATE person_token SET used_at = clock_timestamp() WHERE user_id = :id"),
            {"id": person_id},
        )
        session.execute(text("DELETE FROM person_passkey WHERE user_id = :id"), {"id": person_id})
        record(session, owner, "person.disabled", "agency_user", person_id)
