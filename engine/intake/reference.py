"""A lead's short reference for people (`MD-7K3Q-M2XA`): what a homeowner quotes on the phone or
in an e-mail, and what the confirmation shows.

Derived from the lead's id, not stored: the first 40 bits of a random UUID, in Crockford's base 32
(no I, L, O, U: nothing to misread). It is a name for people, never a key: the private link's
token opens the data, a reference alone opens nothing.
"""

from __future__ import annotations

import uuid

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference_of(lead_id: uuid.UUID) -> str:
    bits = int.from_bytes(lead_id.bytes[:5], "big")
    digits = "".join(_ALPHABET[(bits >> shift) & 31] for shift in range(35, -1, -5))
    return f"MD-{digits[:4]}-{digits[4:]}"
