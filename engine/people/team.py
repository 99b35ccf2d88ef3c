"""An agency's people: invitations, password resets, the team list, offboarding.

Invitation and reset links are single-use tokens sent by e-mail, only their SHA-256 stored; a new
link of the same purpose replaces the older ones. Asking for a reset answers the same whether the
address exists or not. Completing a reset ends every session of the person; offboarding ends
them too, at once.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import errors as pg_errors
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.accounts.models import AGENCY_ROLES
from engine.audit import record
from engine.config import public_url
from engine.contact.validation import normalise_email
from engine.db import unit_of_work
from engine.errors import Conflict, FieldError, Forbidden, NotFound, RuleViolation, TooManyRequests
from engine.notify.outbox import enqueue_mail
from engine.people import passwords, sessions, throttle
from engine.people.sessions import SignedIn

LIFETIMES = {"invitation": timedelta(days=7), "password_reset": timedelta(minutes=30)}
# Reset requests: 3 per address asked for and 10 per client, refilled over an hour.
RESET_BURST, RESET_CLIENT_BURST, RESET_REFILL_S = 3, 10, 3600


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    name: str
    email: str
    role: str
    status: str  # invited, active, disabled
    created_at: datetime
    last_seen_at: datetime | None
    is_me: bool


@dataclass(frozen=True)
class Invitation:
    person_id: uuid.UUID
    email: str
    name: str
    agency_name: str
    role: str


def _issue(session: Session, user_id: uuid.UUID, purpose: str) -> str:
    token = secrets.token_urlsafe(32)
    session.execute(
        text("""
            UPDATE person_token SET used_at = clock_timestamp()
            WHERE user_id = :user AND purpose = :purpose AND used_at IS NULL
        """),
        {"user": user_id, "purpose": purpose},
    )
    session.execute(
        text("""
            INSERT INTO person_token (token_hash, user_id, purpose, created_at, expires_at)
            VALUES (:hash, :user, :purpose, clock_timestamp(), clock_timestamp() + :life)
        """),
        {
            "hash": sessions.token_hash(token),
            "user": user_id,
            "purpose": purpose,
            "life": LIFETIMES[purpose],
        },
    )
    return token


_TOKEN = text("""
    SELECT t.id, t.user_id, u.email, u.name, u.role, a.name AS agency_name
    FROM person_token t
    JOIN agency_user u ON u.id = t.user_id
    JOIN agency a ON a.id = u.agency_id
    WHERE t.token_hash = :hash AND t.purpose = :purpose AND t.used_at IS NULL
      AND t.expires_at > clock_timestamp() AND u.disabled_at IS NULL
""")


def _redeem(session: Session, token: str, purpose: str, lock: bool) -> Invitation | None:
    query = _TOKEN if not lock else text(str(_TOKEN) + " FOR UPDATE OF t")
    row = session.execute(
        query, {"hash": sessions.token_hash(token[:100]), "purpose": purpose}
    ).one_or_none()
    if row is None:
        return None
    return Invitation(row.user_id, row.email, row.name, row.agency_name, row.role)


def invite(
    caller: Principal, agency_id: uuid.UUID, email: str, name: str, role: str, lang: str = "fr"
) -> uuid.UUID:
    """An owner (in Espace Pro or with an owner key) or an admin invites a person to the agency:
    the person exists without a password until they follow the link mailed to them."""
    if caller.role != "admin" and (caller.role != "owner" or caller.agency_id != agency_id):
        if caller.agency_id != agency_id and caller.role in AGENCY_ROLES:
            raise NotFound("No such agency.", code="agency_not_found")
        raise Forbidden("Only an owner invites collaborators.", code="forbidden_role")
    with unit_of_work() as session:
        return invite_in(session, caller, agency_id, email, name, role, lang)


def invite_in(
    session: Session,
    caller: Principal,
    agency_id: uuid.UUID,
    email: str,
    name: str,
    role: str,
    lang: str = "fr",
) -> uuid.UUID:
    """The invitation inside the caller's unit of work (an approved application invites its
    applicant in the transaction that creates the agency); the caller checked the right to."""
    address = normalise_email(email.strip())
    errors = []
    if address is None:
        errors.append(FieldError("email", "invalid_email", "This e-mail address is not valid."))
    if role not in AGENCY_ROLES:
        errors.append(FieldError("role", "unknown_role", f"One of {', '.join(AGENCY_ROLES)}."))
    if not " ".join(name.split()) or len(name) > 200:
        errors.append(FieldError("name", "required", "The person's name, 200 characters at most."))
    if errors:
        raise RuleViolation(errors)
    assert address is not None
    agency = session.execute(
        text("SELECT name FROM agency WHERE id = :id"), {"id": agency_id}
    ).scalar_one_or_none()
    if agency is None:
        raise NotFound("No such agency.", code="agency_not_found")
    try:
        with session.begin_nested():
            person: uuid.UUID = session.execute(
                text("""
                    INSERT INTO agency_user (agency_id, email, name, role, lang)
                    VALUES (:agency, :email, :name, :role, :lang) RETURNING id
                """),
                {
                    "agency": agency_id,
                    "email": address,
                    "name": " ".join(name.split()),
                    "role": role,
                    "lang": lang if lang in ("fr", "en") else "fr",
                },
            ).scalar_one()
    except IntegrityError as error:
        if not isinstance(error.orig, pg_errors.UniqueViolation):
            raise
        raise Conflict("A person already uses this e-mail address.", code="email_taken") from error
    token = _issue(session, person, "invitation")
    _mail_invitation(session, address, agency, person, token)
    record(session, caller, "person.invited", "agency_user", person, role=role)
    return person


def _mail_invitation(
    session: Session, address: str, agency: str, person: uuid.UUID, token: str
) -> None:
    body = "\n".join(
        [
            "Bonjour,",
            "",
            f"Vous êtes invité(e) à rejoindre l'agence {agency} sur Mandat",
            "Espace Pro, pour recevoir et traiter les demandes d'estimation de vendeurs.",
            "",
            "Choisissez votre mot de passe avec ce lien (valable 7 jours, une seule fois) :",
            f"{public_url()}/pro/welcome?token={token}",
            "",
            "Si vous ne vous attendiez pas à cette invitation, ignorez ce message.",
            "— Mandat",
        ]
    )
    subject = f"Invitation à rejoindre {agency} sur Mandat"
    enqueue_mail(session, address, "person.invitation", f"{person}:{token[:8]}", subject, body)


def invitation(token: str) -> Invitation | None:
    """Who a live invitation link is for, or None (unknown, used, expired, replaced)."""
    with unit_of_work() as session:
        return _redeem(session, token, "invitation", lock=False)


def active_person(session: Session, email: str) -> Any:
    """The person (id, email, password_hash) who may sign in with this address, or None."""
    return session.execute(
        text("""
            SELECT id, email, password_hash FROM agency_user
            WHERE email_key = :email AND disabled_at IS NULL
        """),
        {"email": email.strip().lower()},
    ).one_or_none()


def _new_password(session: Session, token: str, purpose: str, password: str) -> Invitation:
    """Uses up a live link of this purpose and sets the new password; whose link it was."""
    person = _redeem(session, token, purpose, lock=True)
    if person is None:
        raise NotFound("This link is no longer valid.", code="link_expired")
    weak = passwords.weakness(password, person.email)
    if weak:
        raise RuleViolation([weak])
    _set_password(session, person.person_id, token, password)
    return person


def accept_invitation(
    token: str, password: str, ip: str | None = None, user_agent: str | None = None
) -> str:
    """Sets the invited person's password, uses the link up, and signs them in."""
    with unit_of_work() as session:
        invited = _new_password(session, token, "invitation", password)
        return sessions.open_session(session, invited.person_id, ip, user_agent)


def _set_password(session: Session, person: uuid.UUID, token: str, password: str) -> None:
    session.execute(
        text("UPDATE person_token SET used_at = clock_timestamp() WHERE token_hash = :hash"),
        {"hash": sessions.token_hash(token)},
    )
    session.execute(
        text("UPDATE agency_user SET password_hash = :hash WHERE id = :id"),
        {"hash": passwords.hash_password(password), "id": person},
    )


def request_reset(email: str, ip: str | None) -> None:
    """Mails a reset link when the address is a person's. Answers the same either way (nothing
    tells whether the address has an account); throttled per address asked and per client."""
    address = email.strip().lower()[:320]
    with unit_of_work() as session:
        for key, burst in (
            (f"reset:account:{address}", RESET_BURST),
            (f"reset:address:{throttle.client_key(ip)}", RESET_CLIENT_BURST),
        ):
            wait = throttle.take(session, key, burst, burst / RESET_REFILL_S)
            if wait:
                raise TooManyRequests("Too many requests: wait before asking again.", wait)
        person = active_person(session, address)
        if person is None:
            return
        token = _issue(session, person.id, "password_reset")
        body = "\n".join(
            [
                "Bonjour,",
                "",
                "Quelqu'un (vous, sans doute) a demandé à changer le mot de passe de votre compte",
                "Mandat Espace Pro. Choisissez-en un nouveau avec ce lien (valable 30 minutes) :",
                f"{public_url()}/pro/reset?token={token}",
                "",
                "Si ce n'était pas vous, ignorez ce message : votre mot de passe ne change pas.",
                "— Mandat",
            ]
        )
        enqueue_mail(
            session, person.email, "person.password_reset", f"{person.id}:{token[:8]}",
            "Changer votre mot de passe Mandat", body,
        )  # fmt: skip


def reset_is_valid(token: str) -> bool:
    with unit_of_work() as session:
        return _redeem(session, token, "password_reset", lock=False) is not None


def complete_reset(token: str, password: str) -> None:
    """The new password; every session of the person ends (signed in anywhere: not any more)."""
    with unit_of_work() as session:
        person = _new_password(session, token, "password_reset", password)
        sessions.revoke_all(session, person.person_id)


def members(viewer: SignedIn) -> list[Member]:
    """The agency's people, owners first, with their status and last activity."""
    with unit_of_work() as session:
        rows = session.execute(
            text("""
                SELECT id, name, email, role, created_at, last_seen_at,
                       CASE WHEN disabled_at IS NOT NULL THEN 'disabled'
                            WHEN password_hash IS NULL THEN 'invited' ELSE 'active' END AS status
                FROM agency_user WHERE agency_id = :agency
                ORDER BY disabled_at IS NOT NULL, array_position(ARRAY['owner', 'buyer', 'viewer'],
                         role::text), lower(name)
            """),
            {"agency": viewer.agency_id},
        ).all()
    return [
        Member(r.id, r.name, r.email, r.role, r.status, r.created_at, r.last_seen_at,
               r.id == viewer.user_id)
        for r in rows
    ]  # fmt: skip


def disable(owner: SignedIn, person_id: uuid.UUID) -> None:
    """Offboarding: the person can no longer sign in, and every session of theirs ends now."""
    if owner.role != "owner":
        raise Forbidden("Only an owner removes collaborators.", code="owner_only")
    if person_id == owner.user_id:
        raise Conflict("You cannot remove yourself.", code="own_account")
    with unit_of_work() as session:
        done = session.execute(
            text("""
                UPDATE agency_user SET disabled_at = clock_timestamp()
                WHERE id = :id AND agency_id = :agency AND disabled_at IS NULL
            """),
            {"id": person_id, "agency": owner.agency_id},
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound("No collaborator of yours has this id.", code="person_not_found")
        sessions.revoke_all(session, person_id)
        session.execute(
            text("UPDATE person_token SET used_at = clock_timestamp() WHERE user_id = :id"),
            {"id": person_id},
        )
        session.execute(text("DELETE FROM person_passkey WHERE user_id = :id"), {"id": person_id})
        record(session, owner, "person.disabled", "agency_user", person_id)
