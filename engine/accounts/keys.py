"""API keys: issue (shown once), authenticate, revoke.

A key reads `mdt_<prefix>_<secret>`: the prefix finds the row, the secret is checked against its
argon2 hash. Verified keys are remembered in this process for a short while (by an HMAC-SHA256
of the whole key, keyed with its stored hash) so that argon2 does not run on every request;
revocation still takes effect at once because the row is read on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.accounts.models import AGENCY_ROLES, STAFF_ROLES, ApiKey
from engine.db import unit_of_work
from engine.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RuleViolation,
    TooManyRequests,
    Unauthenticated,
)
from engine.people import throttle

# OWASP's argon2id minimum (19 MiB, 2 passes): keys are 256-bit random, hashing is defence in
# depth.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_VERIFIED_TTL_S = 60.0
# Wrong secrets are never cached, so someone who knows a prefix can make us hash at will: at
# most two hashes run at once per process, whatever the number of request threads.
_ARGON2_SLOTS = threading.BoundedSemaphore(2)
_verified: dict[bytes, float] = {}
# Wrong secrets under one prefix: 10, then one every 90 s (a protection, not a business rule).
FAILURE_BURST = 10
FAILURE_REFILL_S = 900.0


def _failure() -> Unauthenticated:
    return Unauthenticated("A valid API key is required.", "invalid_api_key")


@dataclass(frozen=True)
class IssuedKey:
    id: uuid.UUID
    key: str
    role: str
    agency_id: uuid.UUID | None
    label: str


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
    session: Session, role: str, agency_id: uuid.UUID | None, label: str = ""
) -> IssuedKey:
    if role not in STAFF_ROLES + AGENCY_ROLES:
        raise RuleViolation.at("role", "unknown_role", f"Unknown role {role!r}.")
    if (role in STAFF_ROLES) != (agency_id is None):
        raise RuleViolation.at(
            "role", "role_scope", "Staff roles have no agency; agency roles need one."
        )
    if len(label) > 200:
        raise RuleViolation.at("label", "label_too_long", "A label has at most 200 characters.")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        prefix=prefix, secret_hash=_HASHER.hash(secret), role=role, agency_id=agency_id, label=label
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        if "fk_api_key_agency_id_agency" in str(exc.orig):
            raise NotFound("No such agency.", "agency_not_found") from exc
        raise
    return IssuedKey(row.id, f"mdt_{prefix}_{secret}", role, agency_id, label)


def authenticate(session: Session, presented: str | None) -> Principal:
    """The principal of a bearer key; any failure is the same 401, whatever went wrong."""
    row = _live_row(session, _prefix(presented))
    if not _verify(row.secret_hash, presented or ""):
        raise _failure()
    return Principal(row.id, row.role, row.agency_id)


def principal_of_key(presented: str | None) -> Principal:
    """The caller a bearer key names; Unauthenticated otherwise. The key's row is read in a unit
    of work of its own, and argon2 runs after it has given its connection back; wrong secrets
    under one prefix are throttled (`too_many_failures`, 429) before argon2 runs again, so one
    key holder flooding wrong secrets costs an indexed read each and stalls nobody."""
    prefix = _prefix(presented)
    bucket = (f"api-key:{prefix}", FAILURE_BURST, FAILURE_BURST / FAILURE_REFILL_S)
    with unit_of_work() as session:
        row = _live_row(session, prefix)
        known = _remembered(row.secret_hash, presented or "")
        wait = 0.0 if known else throttle.wait(session, *bucket)
        principal = Principal(row.id, row.role, row.agency_id)
        secret_hash = row.secret_hash
    if known:
        return principal
    if wait > 0:
        raise TooManyRequests(
            "Too many wrong keys with this prefix: wait before trying again.",
            wait,
            "too_many_failures",
        )
    if not _verify(secret_hash, presented or ""):
        with unit_of_work() as session:
            throttle.take(session, *bucket)
        raise _failure()
    return principal


def _prefix(presented: str | None) -> str:
    if not presented:
        raise Unauthenticated(
            "An API key is required: Authorization: Bearer <key>.", "missing_api_key"
        )
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "mdt" or len(parts[1]) != 12:
        raise _failure()
    return parts[1]


def _live_row(session: Session, prefix: str) -> ApiKey:
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if row is None or row.revoked_at is not None:
        raise _failure()
    return row


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


def _fingerprint(secret_hash: str, presented: str) -> bytes:
    return hmac.digest(secret_hash.encode(), presented.encode(), hashlib.sha256)


def _remembered(secret_hash: str, presented: str) -> bool:
    return _verified.get(_fingerprint(secret_hash, presented), 0.0) > time.monotonic()


def _verify(secret_hash: str, presented: str) -> bool:
    if _remembered(secret_hash, presented):
        return True
    try:
        with _ARGON2_SLOTS:
            _HASHER.verify(secret_hash, presented.split("_", 2)[2])
    except (VerificationError, InvalidHashError):
        return False
    if len(_verified) > 10_000:
        _verified.clear()
    _verified[_fingerprint(secret_hash, presented)] = time.monotonic() + _VERIFIED_TTL_S
    return True


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
