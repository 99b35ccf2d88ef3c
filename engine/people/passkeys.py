"""Passkeys (WebAuthn): a person signs in with a key their device keeps (fingerprint, face, PIN),
no password to type or steal. The `webauthn` package checks every signature and counter.

A ceremony's challenge is stored server-side for two minutes, bound to the browser asking (its
session, or its pre-session cookie before sign-in) and used once. Signing in with a passkey
needs user verification on the device, so it stands for both factors.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import webauthn
from sqlalchemy import text
from sqlalchemy.orm import Session
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from engine.audit import record
from engine.db import unit_of_work
from engine.errors import NotFound, RuleViolation, Unauthenticated
from engine.people import sessions
from engine.people.sessions import SignedIn

RP_NAME = "Mandat Espace Pro"


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkey is for: the site's host (RP id) and the origin pages are served from."""

    id: str
    origin: str


@dataclass(frozen=True)
class Passkey:
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None


def _binding(key: str) -> bytes:
    return hashlib.sha256(b"webauthn:" + key.encode()).digest()


def _keep_challenge(session: Session, binding: str, challenge: bytes, purpose: str) -> None:
    session.execute(
        text("""
            INSERT INTO webauthn_challenge (binding, purpose, challenge, expires_at)
            VALUES (:b, :p, :c, clock_timestamp() + interval '2 minutes')
            ON CONFLICT (binding) DO UPDATE
            SET purpose = excluded.purpose, challenge = excluded.challenge,
                expires_at = excluded.expires_at
        """),
        {"b": _binding(binding), "p": purpose, "c": challenge},
    )


def _take_challenge(session: Session, binding: str, purpose: str) -> bytes:
    challenge = session.execute(
        text("""
            DELETE FROM webauthn_challenge
            WHERE binding = :b AND purpose = :p AND expires_at > clock_timestamp()
            RETURNING challenge
        """),
        {"b": _binding(binding), "p": purpose},
    ).scalar_one_or_none()
    if challenge is None:
        raise RuleViolation.at("credential", "challenge_expired", "Start again: it took too long.")
    return bytes(challenge)


def registration_options(person: SignedIn, token: str, rp: RelyingParty) -> str:
    """The options for `navigator.credentials.create()`, as JSON."""
    with unit_of_work() as session:
        existing = session.execute(
            text("SELECT credential_id FROM person_passkey WHERE user_id = :u"),
            {"u": person.user_id},
        ).scalars()
        options = webauthn.generate_registration_options(
            rp_id=rp.id,
            rp_name=RP_NAME,
            user_id=person.user_id.bytes,
            user_name=person.email,
            user_display_name=person.name,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=bytes(c)) for c in existing],
        )
        _keep_challenge(session, token, options.challenge, "register")
    return webauthn.options_to_json(options)


def register(person: SignedIn, token: str, rp: RelyingParty, credential: Any, name: str) -> None:
    """Keeps the new passkey once its attestation checks out."""
    with unit_of_work() as session:
        challenge = _take_challenge(session, token, "register")
        try:
            verified = webauthn.verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp.id,
                expected_origin=rp.origin,
                require_user_verification=True,
            )
        except InvalidRegistrationResponse as error:
            raise RuleViolation.at("credential", "passkey_refused", str(error)) from error
        session.execute(
            text("""
                INSERT INTO person_passkey (user_id, credential_id, public_key, sign_count, name,
                                            created_at)
                VALUES (:u, :c, :k, :n, :name, clock_timestamp())
            """),
            {
                "u": person.user_id,
                "c": verified.credential_id,
                "k": verified.credential_public_key,
                "n": verified.sign_count,
                "name": " ".join(name.split())[:100] or "Clé d'accès",
            },
        )
        record(session, person, "person.passkey_added", "agency_user", person.user_id)


def authentication_options(pre_session: str, rp: RelyingParty) -> str:
    """Options for `navigator.credentials.get()`: any passkey of this site (discoverable)."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.id, user_verification=UserVerificationRequirement.REQUIRED
    )
    with unit_of_work() as session:
        _keep_challenge(session, pre_session, options.challenge, "sign_in")
    return webauthn.options_to_json(options)


def sign_in(
    pre_session: str, rp: RelyingParty, credential: Any, ip: str | None, agent: str | None
) -> str:
    """A full session for the person whose passkey signed the challenge."""
    try:
        raw_id = webauthn.base64url_to_bytes(str(credential["rawId"]))
    except (KeyError, TypeError, ValueError) as error:
        raise Unauthenticated("This passkey is not known.", code="passkey_unknown") from error
    with unit_of_work() as session:
        challenge = _take_challenge(session, pre_session, "sign_in")
        key = session.execute(
            text("""
                SELECT k.id, k.user_id, k.public_key, k.sign_count FROM person_passkey k
                JOIN agency_user u ON u.id = k.user_id
                WHERE k.credential_id = :c AND u.disabled_at IS NULL
                FOR UPDATE OF k
            """),
            {"c": raw_id},
        ).one_or_none()
        if key is None:
            raise Unauthenticated("This passkey is not known.", code="passkey_unknown")
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp.id,
                expected_origin=rp.origin,
                credential_public_key=bytes(key.public_key),
                credential_current_sign_count=key.sign_count,
                require_user_verification=True,
            )
        except InvalidAuthenticationResponse as error:
            raise Unauthenticated(
                "This passkey did not sign in.", code="passkey_refused"
            ) from error
        session.execute(
            text("""
                UPDATE person_passkey SET sign_count = :n, last_used_at = clock_timestamp()
                WHERE id = :id
            """),
            {"n": verified.new_sign_count, "id": key.id},
        )
        return sessions.open_session(session, key.user_id, ip, agent)


def list_passkeys(person: SignedIn) -> list[Passkey]:
    with unit_of_work() as session:
        rows = session.execute(
            text("""
                SELECT id, name, created_at, last_used_at FROM person_passkey
                WHERE user_id = :u ORDER BY created_at
            """),
            {"u": person.user_id},
        ).all()
    return [Passkey(r.id, r.name, r.created_at, r.last_used_at) for r in rows]


def remove(person: SignedIn, passkey_id: uuid.UUID) -> None:
    with unit_of_work() as session:
        done = session.execute(
            text("DELETE FROM person_passkey WHERE id = :id AND user_id = :u"),
            {"id": passkey_id, "u": person.user_id},
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound("No passkey of yours has this id.", code="passkey_not_found")
        record(session, person, "person.passkey_removed", "agency_user", person.user_id)
