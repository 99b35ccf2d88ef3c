"""A person of an agency, and the web sessions they open.

A person belongs to one agency with one role (owner, buyer, viewer), as an API key does; platform
staff (finance, admin) are people of no agency, on the same sign-in and sessions. Their
password is stored as an argon2id hash; a session is a random token of which only the SHA-256 is
stored, so a copy of the database opens no session.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from engine.accounts.models import AGENCY_ROLES, STAFF_ROLES
from engine.agencies import models as _agencies  # noqa: F401 - the table our foreign key names
from engine.db import Base


class AgencyUser(Base):
    __tablename__ = "agency_user"
    __table_args__ = (
        CheckConstraint(f"role IN {AGENCY_ROLES + STAFF_ROLES!r}", name="role"),
        # Platform staff (finance, admin) belong to no agency; everyone else to exactly one.
        CheckConstraint(
            f"(agency_id IS NULL) = (role IN {STAFF_ROLES!r})", name="staff_has_no_agency"
        ),
        CheckConstraint("lang IN ('fr', 'en')", name="lang"),
        CheckConstraint("email ~ '^[^@[:space:]]+@[^@[:space:]]+$'", name="email"),
        CheckConstraint("length(btrim(name)) BETWEEN 1 AND 200", name="name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    agency_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agency.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(Text)
    # One account per address, whatever its case.
    email_key: Mapped[str] = mapped_column(Text, Computed("lower(email)"), unique=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(2), server_default=text("'fr'"))
    # None until the person sets a password (an invitation not yet accepted).
    password_hash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Offboarded: no sign-in, every session revoked.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A signed-in browser. Idle for 30 minutes or older than 12 hours: over (docs/rules.md §10)."""

    __tablename__ = "web_session"
    __table_args__ = (
        Index("ix_web_session_user", "user_id", "created_at"),
        CheckConstraint("expires_at > created_at", name="lifetime"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency_user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    client_ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(Text)
    # Password given, second factor awaited: this session opens no page.
    pending_second_factor: Mapped[bool] = mapped_column(server_default=text("false"))


class RateBucket(Base):
    """A token bucket shared by every process: `tokens` as of `updated_at`, refilled with time.
    Unlogged (migration 0034): spending a token waits for no disk flush; a crash or a failover
    empties the table, and every bucket starts full again."""

    __tablename__ = "rate_bucket"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    tokens: Mapped[float]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


TOKEN_PURPOSES = ("invitation", "password_reset")


class PersonToken(Base):
    """A single-use link sent by e-mail: an invitation (7 days) or a password reset (30 minutes).
    Only the token's SHA-256 is stored; using it stamps `used_at`, and a newer token of the same
    purpose replaces the older ones."""

    __tablename__ = "person_token"
    __table_args__ = (
        CheckConstraint(f"purpose IN {TOKEN_PURPOSES!r}", name="purpose"),
        CheckConstraint("expires_at > created_at", name="lifetime"),
        Index("ix_person_token_user", "user_id", "purpose"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency_user.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PersonTotp(Base):
    """A person's TOTP app: the secret sealed (AES-GCM), confirmed once a code from it was given,
    and the last time step accepted (a code is never accepted twice)."""

    __tablename__ = "person_totp"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency_user.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class PersonRecoveryCode(Base):
    """One of ten single-use codes that stand in for the app (stored as SHA-256)."""

    __tablename__ = "person_recovery_code"
    __table_args__ = (UniqueConstraint("user_id", "code_hash", name="uq_person_recovery_code"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency_user.id", ondelete="CASCADE"))
    code_hash: Mapped[bytes] = mapped_column(LargeBinary)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PersonPasskey(Base):
    """A passkey (WebAuthn credential) of a person: its id, public key and signature counter."""

    __tablename__ = "person_passkey"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency_user.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebauthnChallenge(Base):
    """A passkey ceremony's challenge, bound to the browser that asked, used once, 2 minutes."""

    __tablename__ = "webauthn_challenge"
    __table_args__ = (CheckConstraint("purpose IN ('register', 'sign_in')", name="purpose"),)

    binding: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
