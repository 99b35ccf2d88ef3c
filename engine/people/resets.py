"""Password resets: a link mailed on request, the new password, every session ended.

Asking for a reset answers the same whether the address exists or not, and is throttled per
address asked for and per client. Completing a reset ends every session of the person.
"""

from __future__ import annotations

from engine.config import public_url
from engine.db import unit_of_work
from engine.errors import TooManyRequests
from engine.notify.outbox import enqueue_mail
from engine.people import sessions, throttle
from engine.people.links import issue_link, new_password, redeem_link
from engine.people.team import active_person

# Reset requests: 3 per address asked for and 10 per client, refilled over an hour.
RESET_BURST, RESET_CLIENT_BURST, RESET_REFILL_S = 3, 10, 3600


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
        token = issue_link(session, person.id, "password_reset")
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
        return redeem_link(session, token, "password_reset", lock=False) is not None


def complete_reset(token: str, password: str) -> None:
    """The new password; every session of the person ends (signed in anywhere: not any more)."""
    with unit_of_work() as session:
        person = new_password(session, token, "password_reset", password)
        sessions.revoke_all(session, person.person_id)
