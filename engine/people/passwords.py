"""Passwords: argon2id at OWASP's parameters, and the rules a new password must meet."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine.errors import FieldError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
MIN_LENGTH = 12
MAX_LENGTH = 256
# Verified against when the address is unknown, so that the answer takes as long either way.
_DECOY = _HASHER.hash("not a password anyone has")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DECOY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def weakness(password: str, email: str) -> FieldError | None:
    """Why a new password is refused, or None. Length over composition rules (NIST 800-63B)."""
    if len(password) < MIN_LENGTH:
        return FieldError("password", "password_too_short", f"At least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        return FieldError("password", "password_too_long", f"At most {MAX_LENGTH} characters.")
    if password.lower() in {email.lower(), email.split("@")[0].lower()}:
        return FieldError("password", "password_is_email", "Not your e-mail address.")
    return None
