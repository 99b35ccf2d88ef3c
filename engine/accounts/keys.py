"""API keys: issued (shown once), listed, given another role, revoked; who is calling.

A key may expire (chosen when it is issued). What its row stores is in key_hashes.py; checking a
presented key, in authentication.py.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.accounts.key_hashes import hash_key
from engine.accounts.models import AGENCY_ROLES, STAFF_ROLES, ApiKey
from engine.db import unit_of_work
from engine.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RuleViolation,
)

LONGEST_LIFE = timedelta(days=731)  # an expiry is at most two years ahead


@dataclass(frozen=True)
class IssuedKey:
    id: uuid.UUID
    key: str
    role: str
    agency_id: uuid.UUID | None
    label: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff member or an agency collaborator, and with which role — through
    an API key (`key_id`) or signed in to Espace Pro as a person (`person_id`)."""

    key_id: uuid.UUID | None
    role: str
    agency_id: uuid.UUID | None
    person_id: uuid.UUID | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"This action needs the role {' or '.join(roles)}.", "forbidden_role")

    def agency(self) -> uuid.UUID:
        """The caller's agency; staff keys have none."""
        if self.agency_id is None:
            raise Forbidden("This action is for agency keys.", "agency_key_required")
        return self.agency_id


def create_key(
    session: Session,
    role: str,
    agency_id: uuid.UUID | None,
    label: str = "",
    expires_at: datetime | None = None,
) -> IssuedKey:
    if role not in STAFF_ROLES + AGENCY_ROLES:
        raise RuleViolation.at("role", "unknown_role", f"Unknown role {role!r}.")
    if (role in STAFF_ROLES) != (agency_id is None):
        raise RuleViolation.at(
            "role", "role_scope", "Staff roles have no agency; agency roles need one."
        )
    if len(label) > 200:
        raise RuleViolation.at("label", "label_too_long", "A label has at most 200 characters.")
    if expires_at is not None:
        expires_at = _checked_expiry(expires_at)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = f"mdt_{prefix}_{secret}"
    row = ApiKey(
        prefix=prefix,
        secret_hash=hash_key(key),
        role=role,
        agency_id=agency_id,
        label=label,
        expires_at=expires_at,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        if "fk_api_key_agency_id_agency" in str(exc.orig):
            raise NotFound("No such agency.", "agency_not_found") from exc
        raise
    return IssuedKey(row.id, key, role, agency_id, label, expires_at)


def _checked_expiry(expires_at: datetime) -> datetime:
    """An expiry in the future, at most two years ahead, with its time zone."""
    if expires_at.tzinfo is None:
        raise RuleViolation.at(
            "expires_at", "expiry_without_time_zone", "Give the expiry with its time zone."
        )
    now = datetime.now(UTC)
    if not now < expires_at <= now + LONGEST_LIFE:
        raise RuleViolation.at(
            "expires_at",
            "expiry_out_of_range",
            "A key expires in the future, at most two years from now.",
        )
    return expires_at


def live_role(key_id: uuid.UUID) -> str | None:
    """The role of a key not revoked, read now (a session cookie re-checks its key with it)."""
    with unit_of_work() as session:
        return session.scalars(
            select(ApiKey.role).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        ).one_or_none()


def revoke_key(session: Session, key_id: uuid.UUID) -> None:
    row = session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = func.now()


def list_keys(session: Session, agency_id: uuid.UUID) -> list[ApiKey]:
    """An agency's collaborator keys, newest first: role, label, dates, never the secret."""
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.agency_id == agency_id).order_by(ApiKey.created_at.desc())
        )
    )


def revoke_agency_key(session: Session, agency_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    """Revoke one of the agency's keys; another agency's key id is unknown here (404)."""
    row = session.scalars(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.agency_id == agency_id)
    ).one_or_none()
    if row is None:
        raise NotFound("Your agency has no key with this id.", "api_key_not_found")
    if row.revoked_at is None:
        row.revoked_at = func.now()
        session.flush()
    return row


def change_agency_key_role(
    session: Session,
    agency_id: uuid.UUID,
    key_id: uuid.UUID,
    role: str,
    by_key: uuid.UUID | None,
) -> tuple[ApiKey, str]:
    """Give one of the agency's live keys another role: (the key, its previous role). The
    role is read on every request, so the change holds from the key's next call. An owner
    cannot change their own key's role, so the caller stays an owner: the agency always keeps
    one."""
    if role not in AGENCY_ROLES:
        raise RuleViolation.at("role", "unknown_role", f"A collaborator is one of {AGENCY_ROLES}.")
    # The agency's live owner keys, locked in key order: two owners demoting each other at once
    # are serialised, and the second sees it is no longer an owner.
    owners = set(
        session.scalars(
            select(ApiKey.id)
            .where(ApiKey.agency_id == agency_id, ApiKey.role == "owner")
            .where(ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.id)
            .with_for_update()
        )
    )
    # An owner signed in as a person (no key) was checked by role; a key must still be an owner's.
    if by_key is not None and by_key not in owners:
        raise Forbidden("Only an owner changes roles.", "forbidden_role")
    row = session.scalars(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.agency_id == agency_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound("Your agency has no key with this id.", "api_key_not_found")
    if row.revoked_at is not None:
        raise Conflict("This key is revoked: issue a new one.", code="api_key_revoked")
    if row.id == by_key:
        raise Conflict("Another owner must change your own key's role.", code="own_key")
    previous = row.role
    row.role = role
    session.flush()
    return row, previous
