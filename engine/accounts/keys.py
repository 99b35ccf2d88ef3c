"""API keys: issue (shown once), authenticate, revoke.

A key reads `mdt_<prefix>_<secret>`: the prefix finds the row, the whole key is checked against
the row's hash. The secret is 256 random bits, so a slow password hash adds nothing: the row
keeps an HMAC-SHA256 of the key with a pepper derived from the keyring (`hmac-sha256$<kid>$<mac>`,
kid: the master key that made it). Keys stored before (argon2id) still verify and are rehashed on
their next success, as are keys peppered by a previous master key: rolling `MANDAT_SECRET_KEY`
locks no key out while the old key stays in `MANDAT_PREVIOUS_SECRET_KEYS`.

A verified key is remembered in this process (a bounded LRU, by the SHA-256 of the whole key) for
its lifetime: the proof that a secret matches a row never expires. Revocation and role changes
still hold at once, because the row (`revoked_at`, `expires_at`, `role`) is read on every
request — in the request's own transaction when the route runs in a request scope (engine.db),
or, for the purchase, by the database function `buy_lead` itself (`remembered_caller`: the
route reads no row before the call).
A key may expire (chosen when it is issued); when it was last used is written at most once an
hour per key and process, in a transaction of its own, so polling costs no write per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import keyring
from engine.accounts.models import AGENCY_ROLES, STAFF_ROLES, ApiKey
from engine.db import joined_read, unit_of_work
from engine.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RuleViolation,
    TooManyRequests,
    Unauthenticated,
)
from engine.people import throttle

# Keys stored before the HMAC scheme: OWASP's argon2id minimum (19 MiB, 2 passes). They verify
# once more with it, then are rehashed.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
# Wrong secrets are never remembered, so someone who knows a prefix can make us verify at will:
# at most two argon2 verifications run at once per process, whatever the number of threads.
_ARGON2_SLOTS = threading.BoundedSemaphore(2)
_SCHEME = "hmac-sha256"
_PEPPER = "api-key:hash"
# Wrong secrets under one prefix: 10, then one every 90 s (a protection, not a business rule).
FAILURE_BURST = 10
FAILURE_REFILL_S = 900.0
VERIFIED_ENTRIES = 100_000  # ≈ 27 MB: every key of a large deployment, polling or not
USE_RESOLUTION_S = 3600  # `last_used_at` is true to the hour
LONGEST_LIFE = timedelta(days=731)  # an expiry is at most two years ahead


class _Verified:
    """SHA-256 of a whole presented key → the caller it was verified as (its row's id, role and
    agency then), least recently used first out. Holding the digest of a key, not the key, it
    gives nothing away."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, Principal] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: bytes) -> Principal | None:
        with self._lock:
            caller = self._entries.get(digest)
            if caller is not None:
                self._entries.move_to_end(digest)
            return caller

    def put(self, digest: bytes, caller: Principal) -> None:
        with self._lock:
            self._entries[digest] = caller
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_verified = _Verified(VERIFIED_ENTRIES)


class _UseStamps:
    """Key id → when this process last wrote its `last_used_at` (monotonic), at most `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._stamps: OrderedDict[uuid.UUID, float] = OrderedDict()
        self._lock = threading.Lock()

    def due(self, key_id: uuid.UUID) -> bool:
        """Whether the key's use is to be written now (and, if so, it counts as written)."""
        now = time.monotonic()
        with self._lock:
            last = self._stamps.get(key_id)
            if last is not None and now - last < USE_RESOLUTION_S:
                return False
            self._stamps[key_id] = now
            self._stamps.move_to_end(key_id)
            while len(self._stamps) > self.size:
                self._stamps.popitem(last=False)
            return True

    def clear(self) -> None:
        with self._lock:
            self._stamps.clear()


_used = _UseStamps(VERIFIED_ENTRIES)


def _failure() -> Unauthenticated:
    return Unauthenticated("A valid API key is required.", "invalid_api_key")


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


def hash_key(key: str) -> str:
    """What a key's row stores: `hmac-sha256$<kid>$<mac>`, with the current master key's pepper."""
    master = keyring.keyring().current
    return f"{_SCHEME}${master.kid}${_mac(master, key)}"


def _mac(master: keyring.MasterKey, key: str) -> str:
    digest = hmac.digest(master.derive(_PEPPER), key.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


# The key's row and its prefix's failure bucket, in one statement.
_KEY_ROW = text(f"""
    SELECT k.id, k.role, k.agency_id, k.secret_hash,
           k.revoked_at IS NOT NULL OR k.expires_at <= now() AS revoked,
           (SELECT {throttle.LEVEL} FROM rate_bucket b WHERE b.key = :bucket) AS level
    FROM api_key k WHERE k.prefix = :prefix
""")
_REHASH = text("UPDATE api_key SET secret_hash = :new WHERE id = :id AND secret_hash = :old")
# Another process may have written it within the hour: then nothing is written.
_USED = text(f"""
    UPDATE api_key SET last_used_at = now()
    WHERE id = :id AND (last_used_at IS NULL
                        OR last_used_at < now() - interval '{USE_RESOLUTION_S} seconds')
""")


def authenticate(session: Session, presented: str | None) -> Principal:
    """The principal of a bearer key; any failure is the same 401, whatever went wrong. Wrong
    secrets under one prefix are throttled (`too_many_failures`, 429) before any hash runs
    again. The key's row is read in `session`'s transaction and nothing is committed there: the
    failure count and, for a key stored under an older scheme or pepper,
    its new hash (each in a transaction of its own)."""
    return _authenticate(session, presented, release_for_argon2=False)


def principal_of_key(presented: str | None) -> Principal:
    """The caller a bearer key names; Unauthenticated otherwise. In a request scope the row is
    read in the request's transaction (the handler's work continues it), else in a unit of work
    of its own; an argon2 check (a key stored before the HMAC scheme, once) runs with no
    connection held."""
    with joined_read() as session:
        return _authenticate(session, presented, release_for_argon2=True)


def _authenticate(session: Session, presented: str | None, release_for_argon2: bool) -> Principal:
    prefix = _prefix(presented)
    key = presented or ""
    bucket = (f"api-key:{prefix}", FAILURE_BURST, FAILURE_BURST / FAILURE_REFILL_S)
    row = session.execute(
        _KEY_ROW,
        {"prefix": prefix, "bucket": bucket[0], "burst": bucket[1], "per_second": bucket[2]},
    ).one_or_none()
    if row is None or row.revoked:
        raise _failure()
    principal = Principal(row.id, row.role, row.agency_id)
    digest = hashlib.sha256(key.encode()).digest()
    remembered = _verified.get(digest)
    if remembered is not None and remembered.key_id == row.id:
        if remembered != principal:
            _verified.put(digest, principal)  # its role changed since
        _note_use(session, row.id, release_for_argon2)
        return principal
    if row.level is not None and row.level < 1:
        raise TooManyRequests(
            "Too many wrong keys with this prefix: wait before trying again.",
            (1 - float(row.level)) / bucket[2],
            "too_many_failures",
        )
    legacy = not row.secret_hash.startswith(f"{_SCHEME}$")
    if legacy and release_for_argon2:
        session.commit()  # the connection goes back to the pool while argon2 runs
    if not _matches(row.secret_hash, key):
        if release_for_argon2:
            session.commit()  # no request holds two pooled connections (one idle) at once
        with unit_of_work(alone=True) as own:
            throttle.take(own, *bucket)
        raise _failure()
    if legacy or not row.secret_hash.startswith(f"{_SCHEME}${keyring.keyring().current.kid}$"):
        if release_for_argon2:
            session.commit()  # as above: after a key roll, every key is rehashed once
        # Committed now, whatever the request does next: the key is then remembered.
        with unit_of_work(alone=True) as own:
            own.execute(_REHASH, {"id": row.id, "old": row.secret_hash, "new": hash_key(key)})
    _verified.put(digest, principal)
    _note_use(session, row.id, release_for_argon2)
    return principal


def remembered_caller(presented: str | None) -> Principal | None:
    """The caller a key names as this process verified it, read from no database; None when
    this process has not verified this very key. Its role is as it was then: only for work that
    reads the key's row again in its own transaction and refuses a revoked or expired key and
    reads the role there (`buy_lead`), so that revocation and role changes still hold at once."""
    if not presented:
        return None
    caller = _verified.get(hashlib.sha256(presented.encode()).digest())
    if caller is not None and caller.key_id is not None:
        _note_use(None, caller.key_id, in_request=False)
    return caller


def _note_use(session: Session | None, key_id: uuid.UUID, in_request: bool) -> None:
    """Write when the key was used, at most once an hour per key and process, committed in a
    transaction of its own whatever the request does next (the request's read transaction ends
    first, as for a rehash: no request holds two pooled connections)."""
    if not _used.due(key_id):
        return
    if in_request and session is not None:
        session.commit()
    with unit_of_work(alone=True) as own:
        own.execute(_USED, {"id": key_id})


def _matches(secret_hash: str, key: str) -> bool:
    """Whether `key` is the one `secret_hash` was made of, under either scheme."""
    scheme, _, rest = secret_hash.partition("$")
    if scheme == _SCHEME:
        kid, _, mac = rest.partition("$")
        master = keyring.keyring().by_kid(kid)
        return master is not None and hmac.compare_digest(_mac(master, key), mac)
    try:
        with _ARGON2_SLOTS:
            return bool(_HASHER.verify(secret_hash, key.split("_", 2)[2]))
    except (VerificationError, InvalidHashError):
        return False


def _prefix(presented: str | None) -> str:
    if not presented:
        raise Unauthenticated(
            "An API key is required: Authorization: Bearer <key>.", "missing_api_key"
        )
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "mdt" or len(parts[1]) != 12:
        raise _failure()
    return parts[1]


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
