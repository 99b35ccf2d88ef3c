"""Joining Mandat: an agency applies by itself (this module); Mandat's staff approve or refuse
(decisions.py).

An application holds what an agency must be to buy leads in France: its name, its SIRET (spaces
accepted as people type them), its professional card number (carte professionnelle "T",
issued by a chamber of commerce: CPI, the chamber's 4 digits, the year's 4, then 9 digits), its
office address and the person who will own the account. One open application per SIRET.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from psycopg import errors as pg_errors
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.agencies.profile_checks import name_is_plain
from engine.contact.validation import normalise_email, phone_e164, siret_is_valid
from engine.db import unit_of_work
from engine.errors import Conflict, FieldError, RuleViolation
from engine.geo.locate import Place, locate
from engine.notify.outbox import enqueue_mail

CARD_NUMBER = re.compile(r"^CPI(\d{4})(\d{4})(\d{9})$")


@dataclass(frozen=True)
class Application:
    """What the joining form sends."""

    name: str
    siret: str
    card_number: str
    street: str
    postal_code: str
    city: str
    contact_name: str
    contact_email: str
    contact_phone: str = ""
    lang: str = "fr"


def plain_siret(typed: str) -> str:
    """A SIRET as people type it ("123 456 789 00012"): spaces and dots dropped."""
    return re.sub(r"[\s.\u00a0\u202f]", "", typed)


def plain_card_number(typed: str) -> str:
    return re.sub(r"[\s.\-\u00a0\u202f]", "", typed).upper()


@dataclass(frozen=True)
class _Tidied:
    """An application's fields as people typed them, tidied the way they are stored."""

    name: str
    siret: str
    card: str
    contact: str
    email: str | None
    phone: str


def submit(application: Application) -> uuid.UUID:
    """Anyone (the public joining page). Checks every field at once; 409 when this SIRET is
    already an agency of Mandat or has an application waiting."""
    tidied = _tidy(application)
    errors = _agency_errors(application, tidied) + _contact_errors(tidied)
    with unit_of_work() as session:
        place = _office_place(session, application, errors)
        if errors or place is None:
            raise RuleViolation(errors)
        assert tidied.email is not None
        if session.execute(
            text("SELECT 1 FROM agency WHERE siret = :s"), {"s": tidied.siret}
        ).first():
            raise Conflict("An agency with this SIRET is already on Mandat.", "siret_taken")
        application_id = _insert_application(session, application, tidied, place)
        mail_applicant(
            session,
            tidied.email,
            application_id,
            "received",
            f"Votre demande d'inscription de {tidied.name} sur Mandat",
            [
                f"Bonjour {tidied.contact},",
                "",
                f"Nous avons bien reçu la demande d'inscription de l'agence {tidied.name} "
                f"(SIRET {tidied.siret}).",
                "Notre équipe vérifie votre carte professionnelle et votre SIRET, en général "
                "sous deux jours ouvrés. Vous recevrez ensuite un e-mail pour créer votre accès "
                "à l'Espace Pro.",
            ],
        )
        return application_id


def _tidy(application: Application) -> _Tidied:
    return _Tidied(
        name=" ".join(application.name.split()),
        siret=plain_siret(application.siret),
        card=plain_card_number(application.card_number),
        contact=" ".join(application.contact_name.split()),
        email=normalise_email(application.contact_email.strip()),
        phone=application.contact_phone.strip(),
    )


def _agency_errors(application: Application, tidied: _Tidied) -> list[FieldError]:
    """What is wrong with the agency's name, SIRET, card number and street."""
    errors: list[FieldError] = []
    name = tidied.name
    if not name or len(name) > 200 or not name_is_plain(name):
        errors.append(FieldError("name", "invalid_name", "The agency's name, as registered."))
    if not siret_is_valid(tidied.siret):
        errors.append(
            FieldError("siret", "invalid_siret", "A SIRET has 14 digits and a valid check digit.")
        )
    if CARD_NUMBER.match(tidied.card) is None:
        errors.append(
            FieldError(
                "card_number",
                "invalid_card_number",
                "A professional card number reads CPI followed by 17 digits.",
            )
        )
    if not application.street.strip() or len(application.street) > 200:
        errors.append(FieldError("street", "required", "The office's street and number."))
    return errors


def _contact_errors(tidied: _Tidied) -> list[FieldError]:
    """What is wrong with the person who will own the account."""
    errors: list[FieldError] = []
    if not tidied.contact or len(tidied.contact) > 200:
        errors.append(FieldError("contact_name", "required", "Who will own the account."))
    if tidied.email is None:
        errors.append(
            FieldError("contact_email", "invalid_email", "This e-mail address is not valid.")
        )
    if tidied.phone and phone_e164(tidied.phone) is None:
        errors.append(
            FieldError("contact_phone", "invalid_phone", "This is not a French phone number.")
        )
    return errors


def _office_place(
    session: Session, application: Application, errors: list[FieldError]
) -> Place | None:
    """The office's commune from its postal code and city; why not, added to `errors`."""
    try:
        return locate(session, application.postal_code, application.city, path="")
    except RuleViolation as violation:
        errors.extend(violation.errors)
        return None


def _insert_application(
    session: Session, application: Application, tidied: _Tidied, place: Place
) -> uuid.UUID:
    """Stores the application; 409 when one for this SIRET is already waiting."""
    try:
        with session.begin_nested():
            application_id: uuid.UUID = session.execute(
                text("""
                    INSERT INTO agency_application
                        (name, siret, card_number, street, postal_code, city, commune_code,
                         contact_name, contact_email, contact_phone, lang)
                    VALUES (:name, :siret, :card, :street, :postal_code, :city, :commune,
                            :contact, :email, :phone, :lang)
                    RETURNING id
                """),
                {
                    "name": tidied.name,
                    "siret": tidied.siret,
                    "card": tidied.card,
                    "street": " ".join(application.street.split()),
                    "postal_code": application.postal_code.strip(),
                    "city": place.commune_name,
                    "commune": place.commune_code,
                    "contact": tidied.contact,
                    "email": tidied.email,
                    "phone": phone_e164(tidied.phone) if tidied.phone else None,
                    "lang": application.lang if application.lang in ("fr", "en") else "fr",
                },
            ).scalar_one()
    except IntegrityError as error:
        if not isinstance(error.orig, pg_errors.UniqueViolation):
            raise
        raise Conflict(
            "An application for this SIRET is already waiting for a decision.",
            "application_pending",
        ) from error
    return application_id


def mail_applicant(
    session: Session,
    address: str,
    application_id: uuid.UUID,
    kind: str,
    subject: str,
    lines: list[str],
) -> None:
    """An e-mail to the applicant about their application, once per application and kind."""
    body = "\n".join([*lines, "", "— Mandat"])
    enqueue_mail(session, address, f"application.{kind}", f"{application_id}:{kind}", subject, body)
