"""The second factor: a TOTP app (RFC 6238, 30-second steps) with ten single-use recovery codes.

The TOTP secret is kept encrypted (AES-GCM, a sub-key of MANDAT_SECRET_KEY for this purpose
only, `engine.keyring`), so a copy of the database alone cannot mint codes. The sealed value
names the key that sealed it: after a key roll it still opens with the previous key, and is
sealed again with the new one the next time a code from it is accepted. A code is accepted for the
current step or the one on either side, and only for a step later than the last one accepted:
the same code never opens two sessions. Recovery codes are random and stored as SHA-256.

Signing in with a second factor is two steps: the password opens a *pending* session that opens
no page; the code then replaces it with a full session (a new token: rotated at step-up).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import segno
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine import keyring
from engine.audit import record
from engine.db import unit_of_work
from engine.errors import Conflict, Forbidden, RuleViolation, TooManyRequests, Unauthenticated
from engine.people import sessions, throttle
from engine.people.sessions import SignedIn

ISSUER = "Mandat Espace Pro"
RECOVERY_CODES = 10
# Wrong codes: 5 per account, refilled over 15 minutes.
CODE_BURST, CODE_REFILL_S = 5, 15 * 60


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, for typing into an app by hand
    qr_data_uri: str  # the otpauth:// URI as an SVG QR code


def _seal(secret: str) -> bytes:
    return keyring.seal("pro:totp-seal", secret.encode(), b"totp")


def _open(sealed: bytes) -> str:
    return keyring.open_sealed("pro:totp-seal", sealed, b"totp").decode()


def _code_hash(code: str) -> bytes:
    return hashlib.sha256(code.replace("-", "").replace(" ", "").lower().encode()).digest()


def has_totp(session: Session, user_id: object) -> bool:
    return bool(
        session.execute(
            text("SELECT 1 FROM person_totp WHERE user_id = :u AND confirmed_at IS NOT NULL"),
            {"u": user_id},
        ).first()
    )


@dataclass(frozen=True)
class Status:
    has_app: bool
    recovery_codes_left: int
    agency_requires: bool


def status(person: SignedIn) -> Status:
    with unit_of_work() as session:
        row = session.execute(
            text("""
                SELECT EXISTS (SELECT 1 FROM person_totp
                               WHERE user_id = :u AND confirmed_at IS NOT NULL) AS has_app,
                       (SELECT count(*) FROM person_recovery_code
                        WHERE user_id = :u AND used_at IS NULL) AS codes_left,
                       (SELECT require_second_factor FROM agency WHERE id = :a) AS required
            """),
            {"u": person.user_id, "a": person.agency_id},
        ).one()
    return Status(row.has_app, row.codes_left, row.required)


def _enrolment(person: SignedIn, secret: str) -> Enrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=person.email, issuer_name=ISSUER)
    return Enrolment(secret, segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def enrolment(person: SignedIn) -> Enrolment | None:
    """The secret being set up (not confirmed yet), to show again after a wrong code."""
    with unit_of_work() as session:
        sealed = session.execute(
            text(
                "SELECT secret_sealed FROM person_totp WHERE user_id = :u AND confirmed_at IS NULL"
            ),
            {"u": person.user_id},
        ).scalar_one_or_none()
    return None if sealed is None else _enrolment(person, _open(bytes(sealed)))


def require_for_agency(owner: SignedIn, required: bool) -> None:
    """An owner asks every person of the agency for a second factor (or no longer does)."""
    if owner.role != "owner":
        raise Forbidden("Only an owner sets the agency's sign-in rules.", code="owner_only")
    with unit_of_work() as session:
        session.execute(
            text("UPDATE agency SET require_second_factor = :r WHERE id = :a"),
            {"r": required, "a": owner.agency_id},
        )
        record(session, owner, "agency.second_factor_policy", "agency", owner.agency_id,
               required=required)  # fmt: skip


def start(person: SignedIn) -> Enrolment:
    """A new secret to scan; it counts only once a code from it is confirmed."""
    secret = pyotp.random_base32()
    with unit_of_work() as session:
        if has_totp(session, person.user_id):
            raise Conflict("A code app is already set up.", code="totp_already_set")
        session.execute(
            text("""
                INSERT INTO person_totp (user_id, secret_sealed, created_at)
                VALUES (:u, :s, clock_timestamp())
                ON CONFLICT (user_id) DO UPDATE
                SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at
            """),
            {"u": person.user_id, "s": _seal(secret)},
        )
    return _enrolment(person, secret)


def _step(session: Session, user_id: object, code: str, confirmed: bool) -> int | None:
    """The step a valid, never-used code belongs to (recorded as used), else None."""
    row = session.execute(
        text("""
            SELECT secret_sealed, last_step FROM person_totp
            WHERE user_id = :u AND (confirmed_at IS NOT NULL) = :confirmed
            FOR UPDATE
        """),
        {"u": user_id, "confirmed": confirmed},
    ).one_or_none()
    code = code.replace(" ", "")
    if row is None or not (code.isascii() and code.isdigit()) or len(code) != 6:
        return None
    sealed = bytes(row.secret_sealed)
    secret = _open(sealed)
    totp = pyotp.TOTP(secret)
    now = datetime.now(UTC)
    for offset in (0, -1, 1):
        step = totp.timecode(now) + offset
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()) and step > (
            row.last_step or -1
        ):
            # Sealed under a previous key (a roll): sealed again under the current one.
            fresh = sealed if keyring.sealed_with_current(sealed) else _seal(secret)
            session.execute(
                text("""
                    UPDATE person_totp SET last_step = :s, secret_sealed = :f WHERE user_id = :u
                """),
                {"s": step, "f": fresh, "u": user_id},
            )
            return step
    return None


def confirm(person: SignedIn, code: str) -> list[str]:
    """The app works: the second factor is on. Returns the recovery codes, shown once."""
    with unit_of_work() as session:
        if _step(session, person.user_id, code, confirmed=False) is None:
            raise RuleViolation.at("code", "wrong_code", "This code is not the one the app shows.")
        session.execute(
            text("UPDATE person_totp SET confirmed_at = clock_timestamp() WHERE user_id = :u"),
            {"u": person.user_id},
        )
        codes = _new_recovery_codes(session, person)
        record(session, person, "person.second_factor_on", "agency_user", person.user_id)
    return codes


def _new_recovery_codes(session: Session, person: SignedIn) -> list[str]:
    session.execute(
        text("DELETE FROM person_recovery_code WHERE user_id = :u"), {"u": person.user_id}
    )
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.execute(
            text("INSERT INTO person_recovery_code (user_id, code_hash) VALUES (:u, :h)"),
            {"u": person.user_id, "h": _code_hash(raw)},
        )
    return codes


def turn_off(person: SignedIn, code: str) -> None:
    """Removing the second factor takes a current code (not only a session)."""
    with unit_of_work() as session:
        if _step(session, person.user_id, code, confirmed=True) is None:
            raise RuleViolation.at("code", "wrong_code", "This code is not the one the app shows.")
        session.execute(text("DELETE FROM person_totp WHERE user_id = :u"), {"u": person.user_id})
        session.execute(
            text("DELETE FROM person_recovery_code WHERE user_id = :u"), {"u": person.user_id}
        )
        record(session, person, "person.second_factor_off", "agency_user", person.user_id)


def complete_sign_in(pending_token: str, code: str, ip: str | None, agent: str | None) -> str:
    """The second step of signing in: a TOTP code or a recovery code turns the pending session
    into a full one, under a new token. Wrong codes are throttled per account."""
    with unit_of_work() as session:
        pending = sessions.pending(session, pending_token)
        if pending is None:
            raise Unauthenticated("Sign in again.", code="sign_in_again")
        bucket = (f"second-factor:{pending.user_id}", CODE_BURST, CODE_BURST / CODE_REFILL_S)
        wait = throttle.wait(session, *bucket)
        if wait:
            raise TooManyRequests("Too many wrong codes: wait before trying again.", wait)
        accepted = _step(session, pending.user_id, code, confirmed=True) is not None
        if not accepted:
            used = session.execute(
                text("""
                    UPDATE person_recovery_code SET used_at = clock_timestamp()
                    WHERE user_id = :u AND code_hash = :h AND used_at IS NULL RETURNING 1
                """),
                {"u": pending.user_id, "h": _code_hash(code)},
            ).first()
            accepted = used is not None
    if not accepted:
        with unit_of_work() as session:
            throttle.take(session, *bucket)
        raise RuleViolation.at("code", "wrong_code", "This code is not the one the app shows.")
    with unit_of_work() as session:
        sessions.end(session, pending_token)
        return sessions.open_session(session, pending.user_id, ip, agent)
