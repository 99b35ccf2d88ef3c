"""Single-use links mailed to a person (an invitation, a password reset).

Only a link's SHA-256 is stored; a new link of the same purpose replaces the older ones. Using a
link sets the person's password and uses the link up.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.errors import NotFound, RuleViolation
from engine.people import passwords, sessions

LIFETIMES = {"invitation": timedelta(days=7), "password_reset": timedelta(minutes=30)}


@dataclass(frozen=True)
class Invitation:
    """Whom a live link is for."""

    person_id: uuid.UUID
    email: str
    name: str
    agency_name: str
    role: str


def issue_link(session: Session, user_id: uuid.UUID, purpose: str) -> str:
    token = secrets.token_urlsafe(32)
    session.execute(
        text("""
            UPDATE person_token SET used_at = clock_timestamp()
            WHERE user_id = :user AND purpose = :purpose AND used_at IS NULL
        """),
        {"user": user_id, "purpose": purpose},
    )
    session.execute(
        text("""
            INSERT INTO person_token (token_hash, user_id, purpose, created_at, expires_at)
            VALUES (:hash, :user, :purpose, clock_timestamp(), clock_timestamp() + :life)
        """),
        {
            "hash": sessions.token_hash(token),
            "user": user_id,
            "purpose": purpose,
            "life": LIFETIMES[purpose],
        },
    )
    return token


_TOKEN = text("""
    SELECT t.id, t.user_id, u.email, u.name, u.role, a.name AS agency_name
    FROM person_token t
    JOIN agency_user u ON u.id = t.user_id
    JOIN agency a ON a.id = u.agency_id
    WHERE t.token_hash = :hash AND t.purpose = :purpose AND t.used_at IS NULL
      AND t.expires_at > clock_timestamp() AND u.disabled_at IS NULL
""")


def redeem_link(session: Session, token: str, purpose: str, lock: bool) -> Invitation | None:
    query = _TOKEN if not lock else text(str(_TOKEN) + " FOR UPDATE OF t")
    row = session.execute(
        query, {"hash": sessions.token_hash(token[:100]), "purpose": purpose}
    ).one_or_none()
    if row is None:
        return None
    return Invitation(row.user_id, row.email, row.name, row.agency_name, row.role)


def new_password(session: Session, token: str, purpose: str, password: str) -> Invitation:
    """Uses up a live link of this purpose and sets the new password; whose link it was."""
    person = redeem_link(session, token, purpose, lock=True)
    if person is None:
        raise NotFound("This link is no longer valid.", code="link_expired")
    weak = passwords.weakness(password, person.email)
    if weak:
        raise RuleViolation([weak])
    _set_password(session, person.person_id, token, password)
    return person


def _set_password(session: Session, person: uuid.UUID, token: str, password: str) -> None:
    session.execute(
        text("UPDATE person_token SET used_at = clock_timestamp() WHERE token_hash = :hash"),
        {"hash": sessions.token_hash(token)},
    )
    session.execute(
        text("UPDATE agency_user SET password_hash = :hash WHERE id = :id"),
        {"hash": passwords.hash_password(password), "id": person},
    )
