"""The finance pages' session: a finance key, checked once, then a signed cookie.

The cookie holds the key's id and an expiry, signed with HMAC-SHA256 (`MANDAT_SECRET_KEY`); each
request re-reads the key's row, so a revoked key is refused at once. Forms carry a token bound
to the session (CSRF), and the cookie is HttpOnly, SameSite=Strict, limited to /finance.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from engine.accounts.keys import Principal, live_role
from engine.config import secret_key

COOKIE = "mandat_finance"
LIFETIME_S = 8 * 3600


def _sign(payload: str) -> str:
    return hmac.new(
        secret_key(), b"finance-session:" + payload.encode(), hashlib.sha256
    ).hexdigest()


def issue(key_id: uuid.UUID) -> str:
    payload = f"{key_id}.{int(time.time()) + LIFETIME_S}"
    return f"{payload}.{_sign(payload)}"


def principal_of(cookie: str | None) -> Principal | None:
    """The finance principal of a valid, unexpired cookie whose key is still active."""
    if not cookie or cookie.count(".") != 2:
        return None
    key_id, expires, signature = cookie.split(".")
    if not hmac.compare_digest(signature.encode(), _sign(f"{key_id}.{expires}").encode()):
        return None
    try:
        if int(expires) < time.time():
            return None
        key = uuid.UUID(key_id)
    except ValueError:
        return None
    if live_role(key) != "finance":
        return None
    return Principal(key, "finance", None)


def csrf_token(cookie: str) -> str:
    return _sign(f"csrf:{cookie}")


def csrf_ok(cookie: str | None, token: str | None) -> bool:
    return bool(
        cookie and token and hmac.compare_digest(csrf_token(cookie).encode(), token.encode())
    )
