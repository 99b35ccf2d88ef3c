"""Mandat's secret keys: one master key from the environment, one sub-key per purpose.

`MANDAT_SECRET_KEY` is at least 32 random bytes, written in base64 (standard or URL-safe
alphabet, padding optional): `openssl rand -base64 32`. Nothing starts without it outside
`MANDAT_ENV=development`, where a key derived from the database's URL stands in (the same in
every process on this machine, worthless anywhere else).

Each purpose (a homeowner's data link, their confirmation link, Espace Pro's form tokens…) signs or
seals with its own sub-key, derived with HKDF-SHA256: a token made for one purpose is refused for
every other. Every signature and sealed value carries the key id of the master key that made it
(8 hex digits of a hash of the key, never the key), so a new key can be rolled in:
`MANDAT_SECRET_KEY` takes the new key and `MANDAT_PREVIOUS_SECRET_KEYS` (comma-separated) keeps
the old ones, which still verify and open what they made but never sign anything new. Removing a
key from the previous list ends its grace period: what it signed is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_KEY_BYTES = 32
SEALED_VERSION = b"\x01"
KID_BYTES = 4
NONCE_BYTES = 12
# The purposes keys are derived for: one line each, so that two never share a sub-key.
PURPOSES = frozenset(
    {
        "homeowner:data",  # the year-long private link (see, export, erase, withdraw)
        "homeowner:confirm",  # "c'est bien moi"
        "homeowner:not_me",  # "ce n'était pas moi"
        "homeowner:form",  # the CSRF token of the homeowner's page's forms
        "pro:csrf",  # Espace Pro's form tokens (staff pages included)
        "pro:pre-csrf",  # Espace Pro's sign-in form token, before any session
        "pro:totp-seal",  # TOTP secrets at rest
        "api-key:hash",  # the pepper of API keys' stored HMAC
    }
)


class MissingSecretKey(RuntimeError):
    """No usable MANDAT_SECRET_KEY outside development: nothing may be signed or opened."""


@dataclass(frozen=True)
class MasterKey:
    kid: str
    material: bytes

    def derive(self, purpose: str) -> bytes:
        return _derive(self.material, purpose)


@dataclass(frozen=True)
class Keyring:
    current: MasterKey
    previous: tuple[MasterKey, ...]

    def by_kid(self, kid: str) -> MasterKey | None:
        for key in (self.current, *self.previous):
            if hmac.compare_digest(key.kid, kid):
                return key
        return None


def development() -> bool:
    return os.environ.get("MANDAT_ENV") == "development"


def parse_key(value: str, name: str = "MANDAT_SECRET_KEY") -> bytes:
    """The key's bytes, or MissingSecretKey saying what is wrong with the value."""
    text = value.strip()
    try:
        padded = text + "=" * (-len(text) % 4)
        altchars = b"-_" if "-" in text or "_" in text else None
        material = base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as error:
        raise MissingSecretKey(f"{name} is not base64 ({_HOW})") from error
    if len(material) < MIN_KEY_BYTES:
        raise MissingSecretKey(
            f"{name} holds {len(material)} bytes: at least {MIN_KEY_BYTES} are needed ({_HOW})"
        )
    return material


_HOW = "make one with: openssl rand -base64 32"


def kid_of(material: bytes) -> str:
    return hashlib.sha256(b"mandat:key-id:" + material).hexdigest()[:8]


def keyring() -> Keyring:
    """The keys this process signs with and accepts; MissingSecretKey without a usable key
    outside development."""
    return _keyring(
        os.environ.get("MANDAT_SECRET_KEY", ""),
        os.environ.get("MANDAT_PREVIOUS_SECRET_KEYS", ""),
        development(),
    )


def check_configured() -> str:
    """At start-up: the current key's id, or MissingSecretKey saying why nothing may start."""
    return keyring().current.kid


@lru_cache(maxsize=8)
def _keyring(current: str, previous: str, in_development: bool) -> Keyring:
    if current.strip():
        material = parse_key(current)
    elif in_development:
        from engine.config import database_url

        material = hashlib.sha256(b"mandat-development-key:" + database_url().encode()).digest()
    else:
        raise MissingSecretKey(
            "MANDAT_SECRET_KEY is not set: outside MANDAT_ENV=development nothing starts "
            f"without it ({_HOW})"
        )
    older = tuple(
        parse_key(value, "MANDAT_PREVIOUS_SECRET_KEYS")
        for value in previous.split(",")
        if value.strip()
    )
    return Keyring(
        MasterKey(kid_of(material), material),
        tuple(MasterKey(kid_of(m), m) for m in older if m != material),
    )


@lru_cache(maxsize=64)
def _derive(material: bytes, purpose: str) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"mandat", info=purpose.encode()).derive(
        material
    )


def _tag(key: bytes, message: str) -> str:
    mac = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(purpose: str, message: str) -> str:
    """`<kid>.<tag>`: HMAC-SHA256 of the message with the current key's sub-key for purpose."""
    key = keyring().current
    return f"{key.kid}.{_tag(key.derive(purpose), message)}"


def verify(purpose: str, message: str, signature: str) -> bool:
    """A signature `sign(purpose, message)` made with the current or a previous key. Anything
    else, malformed or not ASCII included, is simply not valid."""
    kid, _, tag = signature.partition(".")
    if not tag or not signature.isascii():
        return False
    key = keyring().by_kid(kid)
    if key is None:
        return False
    return hmac.compare_digest(_tag(key.derive(purpose), message).encode(), tag.encode())


def seal(purpose: str, plaintext: bytes, context: bytes) -> bytes:
    """AES-256-GCM with the purpose's sub-key: version, key id, nonce, ciphertext."""
    key = keyring().current
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key.derive(purpose)).encrypt(nonce, plaintext, context)
    return SEALED_VERSION + bytes.fromhex(key.kid) + nonce + sealed


class CannotOpen(ValueError):
    """Sealed with a key that is no longer configured, or altered."""


def sealed_kid(sealed: bytes) -> str | None:
    if len(sealed) < 1 + KID_BYTES + NONCE_BYTES or sealed[:1] != SEALED_VERSION:
        return None
    return sealed[1 : 1 + KID_BYTES].hex()


def open_sealed(purpose: str, sealed: bytes, context: bytes) -> bytes:
    kid = sealed_kid(sealed)
    key = keyring().by_kid(kid) if kid else None
    if key is None:
        raise CannotOpen("sealed with a key that is not configured")
    start = 1 + KID_BYTES
    nonce, body = sealed[start : start + NONCE_BYTES], sealed[start + NONCE_BYTES :]
    try:
        return AESGCM(key.derive(purpose)).decrypt(nonce, body, context)
    except InvalidTag as error:
        raise CannotOpen("altered, or sealed for another purpose") from error


def sealed_with_current(sealed: bytes) -> bool:
    return sealed_kid(sealed) == keyring().current.kid
