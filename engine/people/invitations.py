"""Inviting a person into an agency: the invitation link mailed, then the password it sets.

An owner (or an admin) invites; the invited person exists without a password until they follow
the link (single-use, 7 days: links.py).
"""

from __future__ import annotations

import uuid

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
from engine.errors import Conflict, FieldError, Forbidden, NotFound, RuleViolation
from engine.notify.outbox import enqueue_mail
from engine.people import sessions
from engine.people.links import Invitation, issue_link, new_password, redeem_link


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
    token = issue_link(session, person, "invitation")
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
        return redeem_link(session, token, "invitation", lock=False)


def accept_invitation(
    token: str, password: str, ip: str | None = None, user_agent: str | None = None
) -> str:
    """Sets the invited person's password, uses the link up, and signs them in."""
    with unit_of_work() as session:
        invited = new_password(session, token, "invitation", password)
        return sessions.open_session(session, invited.person_id, ip, user_agent)
