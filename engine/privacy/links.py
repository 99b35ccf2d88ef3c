"""Homeowners' links (docs/rules.md §9): the private link to see, export and erase their data,
and the confirmation e-mail's two action links.

Every link carries a token made for one purpose only (`data`, `confirm`, `not_me`): the lead id,
the lead's token generation and an expiry, signed with that purpose's sub-key of
MANDAT_SECRET_KEY and the signing key's id (`engine.keyring`). The data link lasts a year; the
"c'est bien moi" / "ce n'était pas moi" links a week. Bumping the lead's generation (on erasure,
or when the homeowner asks for a new link) revokes every link sent before. They are sent in the
confirmation e-mail of step 2; nothing else can open the homeowner's data.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine import keyring
from engine.config import public_url
from engine.errors import Forbidden, NotFound

Purpose = Literal["data", "confirm", "not_me"]
# How long each link opens what it opens.
TOKEN_DAYS: dict[str, int] = {"data": 365, "confirm": 7, "not_me": 7}


class InvalidToken(Forbidden):
    code = "invalid_token"


@dataclass(frozen=True)
class Link:
    """What a valid token names: the lead, and the generation of links it belongs to."""

    lead_id: uuid.UUID
    generation: int


def make_token(
    lead_id: uuid.UUID, purpose: Purpose = "data", *, days: int | None = None, generation: int = 0
) -> str:
    expires = int(time.time()) + (TOKEN_DAYS[purpose] if days is None else days) * 86_400
    payload = f"{purpose}.{lead_id}.{generation}.{expires}"
    signed = f"{payload}.{keyring.sign(f'homeowner:{purpose}', payload)}"
    return base64.urlsafe_b64encode(signed.encode()).decode().rstrip("=")


def read_token(token: str, purpose: Purpose) -> Link:
    """The lead a valid, unexpired token made for this purpose opens; InvalidToken (a 403)
    otherwise. Whether its generation is still the lead's is `opened`'s to check."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        made_for, lead, generation, expires, kid, tag = raw.split(".")
        payload = f"{made_for}.{lead}.{generation}.{expires}"
        if made_for != purpose or not keyring.verify(
            f"homeowner:{purpose}", payload, f"{kid}.{tag}"
        ):
            raise ValueError("forged, or made for another purpose")
        if int(expires) < time.time():
            raise ValueError("expired")
        return Link(uuid.UUID(lead), int(generation))
    except (ValueError, UnicodeDecodeError, binascii.Error) as error:
        raise InvalidToken("This link is not valid or has expired.") from error


_OPENED = text("""
    SELECT id, token_generation, erased_at, contact_confirmed_at, disowned_at, status
    FROM lead WHERE id = :id FOR UPDATE
""")


def opened(session: Session, link: Link) -> Any:
    """The lead a link opens, locked: NotFound `erased` once erased, InvalidToken when the link
    was revoked (an older generation) or names no lead."""
    lead = session.execute(_OPENED, {"id": link.lead_id}).one_or_none()
    if lead is None:
        raise InvalidToken("This link is not valid or has expired.")
    if lead.erased_at is not None:
        raise NotFound("These data were erased.", code="erased")
    if lead.token_generation != link.generation:
        raise InvalidToken("This link was replaced by a newer one.")
    return lead


def revoke_links(session: Session, lead_id: uuid.UUID) -> int:
    """Every link sent before stops working; the new generation."""
    return int(
        session.execute(
            text("""
                UPDATE lead SET token_generation = token_generation + 1
                WHERE id = :id RETURNING token_generation
            """),
            {"id": lead_id},
        ).scalar_one()
    )


def links(lead_id: uuid.UUID, generation: int) -> dict[str, str]:
    """The homeowner's three links: the private data link and the two action links."""
    base = public_url()
    paths: dict[Purpose, str] = {
        "data": "/me",
        "confirm": "/me/confirm",
        "not_me": "/me/not-me",
    }
    return {
        purpose: f"{base}{path}?token={make_token(lead_id, purpose, generation=generation)}"
        for purpose, path in paths.items()
    }
