"""What a person does with their account: sign in and out, see and end their sessions; and how
a person is added to an agency. Each service owns its unit of work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from psycopg import errors as pg_errors
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from engine.accounts.models import AGENCY_ROLES, STAFF_ROLES
from engine.contact.validation import normalise_email
from engine.db import unit_of_work
from engine.errors import (
    Conflict,
    FieldError,
    NotFound,
    RuleViolation,
    TooManyRequests,
    Unauthenticated,
)
from engine.people import passwords, sessions, throttle
from engine.people.second_factor import has_totp
from engine.people.sessions import SessionRow, SignedIn, StaffSignedIn
from engine.people.team import active_person

# Failed sign-ins: 5 per account and 20 per address, each refilled over 15 minutes.
ACCOUNT_BURST, ADDRESS_BURST, REFILL_S = 5, 20, 15 * 60


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class SignInResult:
    token: str
    # The password was right; a code from the person's app is awaited before any page opens.
    second_factor_needed: bool


def sign_in(credentials: Credentials, replaced_token: str | None = None) -> SignInResult:
    """A new session token for the right e-mail and password. The token the browser held before
    (if any) is ended: a session is never carried across a sign-in (fixation). With a second
    factor set up, the session is pending until the code is given.

    Wrong credentials answer the same whether the address exists or not, and spend a token of
    the account's and of the address's bucket; an empty bucket refuses before any hash runs."""
    email = credentials.email.strip().lower()
    buckets = [
        (f"sign-in:account:{email}", ACCOUNT_BURST, ACCOUNT_BURST / REFILL_S),
        (f"sign-in:address:{throttle.client_key(credentials.ip)}", ADDRESS_BURST,
         ADDRESS_BURST / REFILL_S),
    ]  # fmt: skip
    with unit_of_work() as session:
        wait = max(throttle.wait(session, *bucket) for bucket in buckets)
        if wait:
            raise TooManyRequests("Too many failed sign-ins: wait before trying again.", wait)
        row = active_person(session, email)
    if not passwords.verify(row.password_hash if row else None, credentials.password):
        with unit_of_work() as session:
            for bucket in buckets:
                throttle.take(session, *bucket)
        raise Unauthenticated("The e-mail or the password is wrong.", code="wrong_credentials")
    assert row is not None
    with unit_of_work() as session:
        if replaced_token:
            sessions.end(session, replaced_token)
        pending = has_totp(session, row.id)
        token = sessions.open_session(
            session, row.id, credentials.ip, credentials.user_agent, pending=pending
        )
        return SignInResult(token, pending)


def current(token: str | None) -> SignedIn | None:
    with unit_of_work() as session:
        return sessions.signed_in(session, token)


def current_staff(token: str | None) -> StaffSignedIn | None:
    """The staff member (finance, admin) a session token belongs to, if it is one."""
    with unit_of_work() as session:
        return sessions.staff_signed_in(session, token)


def still_signed_in(person: SignedIn) -> bool:
    with unit_of_work() as session:
        return sessions.still_live(session, person.session_id)


def is_pending(token: str | None) -> bool:
    with unit_of_work() as session:
        return sessions.pending(session, token) is not None


def sign_out(token: str) -> None:
    with unit_of_work() as session:
        sessions.end(session, token)


def my_sessions(person: SignedIn) -> list[SessionRow]:
    with unit_of_work() as session:
        return sessions.live_sessions(session, person)


def end_session(person: SignedIn, session_id: uuid.UUID) -> None:
    with unit_of_work() as session:
        if not sessions.revoke(session, person.user_id, session_id):
            raise NotFound("No open session of yours has this id.", code="session_not_found")


def add_person(
    agency_id: uuid.UUID | None,
    email: str,
    name: str,
    role: str,
    password: str,
    lang: str = "fr",
) -> uuid.UUID:
    """A person with a password (the command line, the demo): of an agency (owner, buyer,
    viewer), or of Mandat's staff with no agency (finance, admin). Refuses an unknown agency or
    role, a weak password and an address already in use."""
    errors: list[FieldError] = []
    roles = STAFF_ROLES if agency_id is None else AGENCY_ROLES
    if role not in roles:
        errors.append(FieldError("role", "unknown_role", f"One of {', '.join(roles)}."))
    if normalise_email(email.strip()) is None:
        errors.append(FieldError("email", "invalid_email", "This e-mail address is not valid."))
    weak = passwords.weakness(password, email)
    if weak:
        errors.append(weak)
    if errors:
        raise RuleViolation(errors)
    try:
        with unit_of_work() as session:
            if (
                agency_id is not None
                and not session.execute(
                    text("SELECT 1 FROM agency WHERE id = :id"), {"id": agency_id}
                ).first()
            ):
                raise NotFound("No agency has this id.", code="agency_not_found")
            person: uuid.UUID = session.execute(
                text("""
                    INSERT INTO agency_user (agency_id, email, name, role, lang, password_hash)
                    VALUES (:agency, :email, :name, :role, :lang, :hash) RETURNING id
                """),
                {
                    "agency": agency_id,
                    "email": email.strip(),
                    "name": " ".join(name.split()),
                    "role": role,
                    "lang": lang,
                    "hash": passwords.hash_password(password),
                },
            ).scalar_one()
            return person
    except IntegrityError as error:
        if not isinstance(error.orig, pg_errors.UniqueViolation):
            raise
        raise Conflict("A person already uses this e-mail address.", code="email_taken") from error
