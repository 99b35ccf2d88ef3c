"""Authenticating an API key: the caller a bearer key names, or the same 401 whatever went wrong.

A verified key is remembered in this process (a bounded LRU, by the SHA-256 of the whole key) for
its lifetime: the proof that a secret matches a row never expires. Revocation and role changes
still hold at once, because the row (`revoked_at`, `expires_at`, `role`) is read on every
request — in the request's own transaction when the route runs in a request scope (engine.db),
or, for the purchase, by the database function `buy_lead` itself (`remembered_caller`: the
route reads no row before the call).
When a key was last used is written at most once an hour per key and process, in a transaction
of its own, so polling costs no write per request.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import OrderedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine import keyring
from engine.accounts.key_hashes import SCHEME, hash_key, matches
from engine.accounts.keys import Principal
from engine.db import joined_read, unit_of_work
from engine.errors import TooManyRequests, Unauthenticated
from engine.people import throttle

# Wrong secrets under one prefix: 10, then one every 90 s (a protection, not a business rule).
FAILURE_BURST = 10
FAILURE_REFILL_S = 900.0
VERIFIED_ENTRIES = 100_000  # ≈ 27 MB: every key of a large deployment, polling or not
USE_RESOLUTION_S = 3600  # `last_used_at` is true to the hour


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

    def pending(self, key_id: uuid.UUID) -> bool:
        """Whether the key's use would be written now (without counting it as written)."""
        with self._lock:
            last = self._stamps.get(key_id)
        return last is None or time.monotonic() - last >= USE_RESOLUTION_S

    def clear(self) -> None:
        with self._lock:
            self._stamps.clear()


_used = _UseStamps(VERIFIED_ENTRIES)


def _failure() -> Unauthenticated:
    return Unauthenticated("A valid API key is required.", "invalid_api_key")


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
    legacy = not row.secret_hash.startswith(f"{SCHEME}$")
    if legacy and release_for_argon2:
        session.commit()  # the connection goes back to the pool while argon2 runs
    if not matches(row.secret_hash, key):
        if release_for_argon2:
            session.commit()  # no request holds two pooled connections (one idle) at once
        with unit_of_work(alone=True) as own:
            throttle.take(own, *bucket)
        raise _failure()
    if legacy or not row.secret_hash.startswith(f"{SCHEME}${keyring.keyring().current.kid}$"):
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
    caller = _verified_caller(presented)
    if caller is not None and caller.key_id is not None:
        _note_use(None, caller.key_id, in_request=False)
    return caller


def recalled_caller(presented: str | None) -> Principal | None:
    """`remembered_caller` for the event loop: the same lookup, and no database at all — None
    also when the key's use is due to be written (the caller then takes the path that writes
    it, in a worker thread)."""
    caller = _verified_caller(presented)
    if caller is None or caller.key_id is None or _used.pending(caller.key_id):
        return None
    return caller


def _verified_caller(presented: str | None) -> Principal | None:
    return _verified.get(hashlib.sha256(presented.encode()).digest()) if presented else None


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


def _prefix(presented: str | None) -> str:
    if not presented:
        raise Unauthenticated(
            "An API key is required: Authorization: Bearer <key>.", "missing_api_key"
        )
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "mdt" or len(parts[1]) != 12:
        raise _failure()
    return parts[1]
