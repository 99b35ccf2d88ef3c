"""What an API key's row stores, and checking a presented key against it.

A key reads `mdt_<prefix>_<secret>`: the prefix finds the row, the whole key is checked against
the row's hash. The secret is 256 random bits, so a slow password hash adds nothing: the row
keeps an HMAC-SHA256 of the key with a pepper derived from the keyring (`hmac-sha256$<kid>$<mac>`,
kid: the master key that made it). Keys stored before (argon2id) still verify and are rehashed on
their next success, as are keys peppered by a previous master key: rolling `MANDAT_SECRET_KEY`
locks no key out while the old key stays in `MANDAT_PREVIOUS_SECRET_KEYS`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine import keyring

# Keys stored before the HMAC scheme: OWASP's argon2id minimum (19 MiB, 2 passes). They verify
# once more with it, then are rehashed.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
# Wrong secrets are never remembered, so someone who knows a prefix can make us verify at will:
# at most two argon2 verifications run at once per process, whatever the number of threads.
_ARGON2_SLOTS = threading.BoundedSemaphore(2)
SCHEME = "hmac-sha256"
_PEPPER = "api-key:hash"


def hash_key(key: str) -> str:
    """What a key's row stores: `hmac-sha256$<kid>$<mac>`, with the current master key's pepper."""
    master = keyring.keyring().current
    return f"{SCHEME}${master.kid}${_mac(master, key)}"


def _mac(master: keyring.MasterKey, key: str) -> str:
    digest = hmac.digest(master.derive(_PEPPER), key.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def matches(secret_hash: str, key: str) -> bool:
    """Whether `key` is the one `secret_hash` was made of, under either scheme."""
    scheme, _, rest = secret_hash.partition("$")
    if scheme == SCHEME:
        kid, _, mac = rest.partition("$")
        master = keyring.keyring().by_kid(kid)
        return master is not None and hmac.compare_digest(_mac(master, key), mac)
    try:
        with _ARGON2_SLOTS:
            return bool(_HASHER.verify(secret_hash, key.split("_", 2)[2]))
    except (VerificationError, InvalidHashError):
        return False
