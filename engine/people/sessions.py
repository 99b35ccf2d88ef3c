"""Server-side web sessions: an opaque random token in the cookie, its SHA-256 in the table.

A session ends after 30 minutes without a request (idle) or 12 hours after sign-in (absolute),
when the person signs out or revokes it from "my sessions", and when they are offboarded. Every
request reads the row, so each of these takes effect at once in every server process.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
PENDING = timedelta(minutes=5)
# last_seen_at is written at most once a minute: reading a page is not a write each time.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SignedIn:
    """Who a valid session belongs to."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    agency_id: uuid.UUID
    agency_name: str
    name: str
    email: str
    role: str
    lang: str
    # The agency asks for a second factor and this person has none yet: only the security page
    # opens until they set one up.
    must_enrol: bool = False

    @property
    def caller(self) -> Principal:
        """This person as the engine's services know a caller: the same role checks, the same
        agency scope as an API key of that role."""
        return Principal(None, self.role, self.agency_id, self.user_id)


@dataclass(frozen=True)
class StaffSignedIn:
    """A member of Mandat's staff (finance, admin) behind a valid session: a person of no
    agency, on the same sessions, timeouts and revocation as agency people."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    email: str
    role: str
    lang: str

    @property
    def caller(self) -> Principal:
        return Principal(None, self.role, None, self.user_id)


@dataclass(frozen=True)
class Pending:
    """A session between the password and the second factor: it opens no page."""

    session_id: uuid.UUID
    user_id: uuid.UUID


@dataclass(frozen=True)
class SessionRow:
    id: uuid.UUID
    created_at: datetime
    last_seen_at: datetime
    client_ip: str | None
    user_agent: str | None
    current: bool


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def open_session(
    session: Session,
    user_id: uuid.UUID,
    ip: str | None,
    user_agent: str | None,
    pending: bool = False,
) -> str:
    """A new session for this person; the token is returned once, only its hash is kept. A
    pending one waits for the second factor (and lives 5 minutes at most)."""
    token = secrets.token_urlsafe(32)
    session.execute(
        text("""
            INSERT INTO web_session (token_hash, user_id, created_at, last_seen_at, expires_at,
                                     client_ip, user_agent, pending_second_factor)
            VALUES (:hash, :user, clock_timestamp(), clock_timestamp(),
                    clock_timestamp() + :absolute, CAST(:ip AS inet), :agent, :pending)
        """),
        {
            "hash": token_hash(token),
            "user": user_id,
            "absolute": PENDING if pending else ABSOLUTE,
            "ip": ip,
            "agent": (user_agent or "")[:300] or None,
            "pending": pending,
        },
    )
    if pending:
        return token
    session.execute(
        text("UPDATE agency_user SET last_seen_at = clock_timestamp() WHERE id = :id"),
        {"id": user_id},
    )
    return token


_SIGNED_IN = text("""
    SELECT s.id AS session_id, s.last_seen_at, clock_timestamp() AS now, u.id AS user_id,
           u.agency_id, a.name AS agency_name, u.name, u.email, u.role, u.lang,
           a.require_second_factor AND NOT EXISTS (
               SELECT 1 FROM person_totp t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL
           ) AS must_enrol
    FROM web_session s
    JOIN agency_user u ON u.id = s.user_id
    JOIN agency a ON a.id = u.agency_id
    WHERE s.token_hash = :hash AND s.revoked_at IS NULL AND u.disabled_at IS NULL
      AND NOT s.pending_second_factor
      AND s.expires_at > clock_timestamp() AND s.last_seen_at > clock_timestamp() - :idle
""")


def signed_in(session: Session, token: str | None) -> SignedIn | None:
    """The person behind a live session token, or None (unknown, revoked, idle, expired)."""
    if not token or len(token) > 100:
        return None
    row = session.execute(_SIGNED_IN, {"hash": token_hash(token), "idle": IDLE}).one_or_none()
    if row is None:
        return None
    if row.now - row.last_seen_at > _TOUCH_EVERY:
        session.execute(
            text("UPDATE web_session SET last_seen_at = clock_timestamp() WHERE id = :id"),
            {"id": row.session_id},
        )
        session.execute(
            text("UPDATE agency_user SET last_seen_at = clock_timestamp() WHERE id = :id"),
            {"id": row.user_id},
        )
    return SignedIn(
        row.session_id,
        row.user_id,
        row.agency_id,
        row.agency_name,
        row.name,
        row.email,
        row.role,
        row.lang,
        row.must_enrol,
    )


_STAFF_SIGNED_IN = text("""
    SELECT s.id AS session_id, s.last_seen_at, clock_timestamp() AS now, u.id AS user_id,
           u.name, u.email, u.role, u.lang
    FROM web_session s
    JOIN agency_user u ON u.id = s.user_id
    WHERE s.token_hash = :hash AND s.revoked_at IS NULL AND u.disabled_at IS NULL
      AND u.agency_id IS NULL AND NOT s.pending_second_factor
      AND s.expires_at > clock_timestamp() AND s.last_seen_at > clock_timestamp() - :idle
""")


_STILL_LIVE = text("""
    SELECT 1 FROM web_session s JOIN agency_user u ON u.id = s.user_id
    WHERE s.id = :id AND s.revoked_at IS NULL AND u.disabled_at IS NULL
      AND NOT s.pending_second_factor
      AND s.expires_at > clock_timestamp() AND s.last_seen_at > clock_timestamp() - :idle
""")


def staff_signed_in(session: Session, token: str | None) -> StaffSignedIn | None:
    """The staff member behind a live session token, or None (an agency person's session,
    unknown, revoked, idle, expired)."""
    if not token or len(token) > 100:
        return None
    row = session.execute(_STAFF_SIGNED_IN, {"hash": token_hash(token), "idle": IDLE}).one_or_none()
    if row is None:
        return None
    if row.now - row.last_seen_at > _TOUCH_EVERY:
        session.execute(
            text("UPDATE web_session SET last_seen_at = clock_timestamp() WHERE id = :id"),
            {"id": row.session_id},
        )
    return StaffSignedIn(row.session_id, row.user_id, row.name, row.email, row.role, row.lang)


def still_live(session: Session, session_id: uuid.UUID) -> bool:
    """Whether a session is still signed in, without counting this as activity: a page left
    open (the inbox's live stream) does not keep its session from going idle."""
    return session.execute(_STILL_LIVE, {"id": session_id, "idle": IDLE}).first() is not None


def pending(session: Session, token: str | None) -> Pending | None:
    """The pending session of this token (password given, second factor awaited), or None."""
    if not token or len(token) > 100:
        return None
    row = session.execute(
        text("""
            SELECT s.id, s.user_id FROM web_session s
            JOIN agency_user u ON u.id = s.user_id
            WHERE s.token_hash = :hash AND s.pending_second_factor AND s.revoked_at IS NULL
              AND s.expires_at > clock_timestamp() AND u.disabled_at IS NULL
        """),
        {"hash": token_hash(token)},
    ).one_or_none()
    return Pending(row.id, row.user_id) if row else None


def end(session: Session, token: str) -> None:
    session.execute(
        text("""
            UPDATE web_session SET revoked_at = clock_timestamp()
            WHERE token_hash = :hash AND revoked_at IS NULL
        """),
        {"hash": token_hash(token)},
    )


def revoke(session: Session, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    """Ends one of this person's sessions; False when it is not theirs or already over."""
    done = session.execute(
        text("""
            UPDATE web_session SET revoked_at = clock_timestamp()
            WHERE id = :id AND user_id = :user AND revoked_at IS NULL
        """),
        {"id": session_id, "user": user_id},
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def revoke_all(session: Session, user_id: uuid.UUID) -> None:
    session.execute(
        text("""
            UPDATE web_session SET revoked_at = clock_timestamp()
            WHERE user_id = :user AND revoked_at IS NULL
        """),
        {"user": user_id},
    )


def live_sessions(session: Session, current: SignedIn) -> list[SessionRow]:
    """The person's sessions still open, the newest first, the current one marked."""
    rows = session.execute(
        text("""
            SELECT id, created_at, last_seen_at, host(client_ip) AS ip, user_agent
            FROM web_session
            WHERE user_id = :user AND revoked_at IS NULL AND expires_at > clock_timestamp()
              AND last_seen_at > clock_timestamp() - :idle AND NOT pending_second_factor
            ORDER BY created_at DESC
        """),
        {"user": current.user_id, "idle": IDLE},
    ).all()
    return [
        SessionRow(
            r.id, r.created_at, r.last_seen_at, r.ip, r.user_agent, r.id == current.session_id
        )
        for r in rows
    ]
