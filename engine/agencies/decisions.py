"""Mandat's staff decide on the agencies' applications (applications.py): approve or refuse.

An admin approves: in one transaction the agency is created (office at its commune, the default
radius, its registered address from the application) and the applicant invited as its owner (the
link that sets the password is mailed). Or refuses, with a reason mailed to the applicant. Both
are audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.agencies.applications import mail_applicant
from engine.agencies.profile import NewAgency, create_agency
from engine.agencies.zone import Location
from engine.audit import record
from engine.config import public_url
from engine.db import unit_of_work
from engine.errors import Conflict, Forbidden, NotFound, RuleViolation
from engine.people.invitations import invite_in


@dataclass(frozen=True)
class ApplicationRecord:
    id: uuid.UUID
    created_at: datetime
    name: str
    siret: str
    card_number: str
    street: str
    postal_code: str
    city: str
    contact_name: str
    contact_email: str
    contact_phone: str | None
    status: str
    decided_at: datetime | None
    refusal_reason: str | None
    agency_id: uuid.UUID | None


def _require_admin(caller: Principal) -> None:
    if caller.role != "admin":
        raise Forbidden("Only Mandat's admins decide on applications.", code="forbidden_role")


_RECORD = """
    SELECT id, created_at, name, siret, card_number, street, postal_code, city, contact_name,
           contact_email, contact_phone, status, decided_at, refusal_reason, agency_id
    FROM agency_application
"""


def applications(caller: Principal, status: str = "pending") -> list[ApplicationRecord]:
    """Admin: the applications in a state, oldest first (the order to decide them in)."""
    _require_admin(caller)
    with unit_of_work() as session:
        rows = session.execute(
            text(f"{_RECORD} WHERE status = :status ORDER BY created_at, id LIMIT 200"),
            {"status": status},
        ).mappings()
        return [ApplicationRecord(**row) for row in rows]


def application(caller: Principal, application_id: uuid.UUID) -> ApplicationRecord:
    _require_admin(caller)
    with unit_of_work() as session:
        return _read(session, application_id, lock=False)


def _read(session: Session, application_id: uuid.UUID, lock: bool) -> ApplicationRecord:
    row = (
        session.execute(
            text(f"{_RECORD} WHERE id = :id {'FOR UPDATE' if lock else ''}"),
            {"id": application_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound("No such application.", code="application_not_found")
    return ApplicationRecord(**row)


def approve(caller: Principal, application_id: uuid.UUID) -> uuid.UUID:
    """Admin: the agency is created and its applicant invited as owner, in one transaction;
    the new agency's id. A decided application is not decided again (409)."""
    _require_admin(caller)
    with unit_of_work() as session:
        found = _read(session, application_id, lock=True)
        _still_pending(found)
        agency = create_agency(
            session,
            NewAgency(
                name=found.name,
                siret=found.siret,
                email=found.contact_email,
                office=Location(postal_code=found.postal_code, city=found.city),
                phone=found.contact_phone,
            ),
        )
        session.execute(
            text("""
                UPDATE agency SET registered_street = :street, registered_postcode = :postal_code,
                                  registered_city = :city
                WHERE id = :agency
            """),
            {
                "street": found.street,
                "postal_code": found.postal_code,
                "city": found.city,
                "agency": agency.id,
            },
        )
        invite_in(session, caller, agency.id, found.contact_email, found.contact_name, "owner")
        session.execute(
            text("""
                UPDATE agency_application
                SET status = 'approved', decided_at = clock_timestamp(), decided_by = :by,
                    agency_id = :agency
                WHERE id = :id
            """),
            {"by": caller.person_id or caller.key_id, "agency": agency.id, "id": found.id},
        )
        record(session, caller, "agency.created", "agency", agency.id, application=str(found.id))
        record(session, caller, "application.approved", "agency_application", found.id)
        return agency.id


def refuse(caller: Principal, application_id: uuid.UUID, reason: str) -> None:
    """Admin: refused with a reason, which the applicant receives by e-mail."""
    _require_admin(caller)
    if not reason.strip() or len(reason) > 2000:
        raise RuleViolation.at(
            "reason", "required", "Say why, in a few words: the agency reads it."
        )
    with unit_of_work() as session:
        found = _read(session, application_id, lock=True)
        _still_pending(found)
        session.execute(
            text("""
                UPDATE agency_application
                SET status = 'refused', decided_at = clock_timestamp(), decided_by = :by,
                    refusal_reason = :reason
                WHERE id = :id
            """),
            {"by": caller.person_id or caller.key_id, "reason": reason.strip(), "id": found.id},
        )
        mail_applicant(
            session,
            found.contact_email,
            found.id,
            "refused",
            f"Votre demande d'inscription de {found.name} sur Mandat",
            [
                f"Bonjour {found.contact_name},",
                "",
                f"Nous ne pouvons pas inscrire l'agence {found.name} sur Mandat pour le moment.",
                f"Motif : {reason.strip()}",
                "",
                f"Vous pouvez déposer une nouvelle demande : {public_url()}/pro/join",
            ],
        )
        record(session, caller, "application.refused", "agency_application", found.id)


def decide(caller: Principal, application_id: uuid.UUID, decision: str, reason: str) -> None:
    """Admin: "approve" the application (`approve`) or anything else, refuse it for `reason`."""
    if decision == "approve":
        approve(caller, application_id)
    else:
        refuse(caller, application_id, reason)


def _still_pending(found: ApplicationRecord) -> None:
    if found.status != "pending":
        raise Conflict("This application was already decided.", "application_decided")
