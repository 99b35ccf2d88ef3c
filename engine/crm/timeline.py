"""A bought contact's timeline: what the agency's people did (call, e-mail, visit, note), who and
when; the first call or e-mail is the purchase's first contact (speed to lead) and moves a "new"
contact to "contacted". Handing the contact to a collaborator is on the timeline too. An entry
is corrected or deleted by its author, or any entry by an owner; the first contact follows.

Every query names the caller's agency: another agency's purchase answers 404.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.config import public_url
from engine.crm.models import CONTACT_KINDS, LOGGED_KINDS
from engine.errors import FieldError, Forbidden, NotFound, RuleViolation
from engine.notify.outbox import enqueue_mail

BODY_MAX = 5000


@dataclass(frozen=True)
class Interaction:
    id: uuid.UUID
    kind: str  # call, email, visit, note, assigned
    body: str
    occurred_at: datetime
    by: str | None  # the person's name; None when logged with an API key
    person_id: uuid.UUID | None = None  # who logged it (their own entries they may correct)
    edited_at: datetime | None = None  # when it was last corrected


@dataclass(frozen=True)
class Colleague:
    """A person of the agency who may work contacts (owner or buyer, active)."""

    id: uuid.UUID
    name: str


def purchase_row(
    session: Session, agency_id: uuid.UUID, purchase_id: uuid.UUID, lock: bool = False
) -> Any:
    """The purchase (id, created_at, pipeline_status, first_contact_at, assigned_to,
    bought_by_person, commune), or NotFound when it is not this agency's."""
    row = (
        session.execute(
            text(f"""
                SELECT p.id, p.created_at, p.pipeline_status, p.first_contact_at, p.assigned_to,
                       p.bought_by_person, c.name AS city, e.postal_code
                FROM purchase p
                JOIN lead l ON l.id = p.lead_id
                JOIN estimation e ON e.id = l.estimation_id
                JOIN commune c ON c.code = e.commune_code
                WHERE p.id = :id AND p.agency_id = :agency
                {"FOR UPDATE OF p" if lock else ""}
            """),
            {"id": purchase_id, "agency": agency_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound("No purchase of your agency has this id.", code="purchase_not_found")
    return row


def log_interaction(
    session: Session, caller: Principal, purchase_id: uuid.UUID, kind: str, body: str
) -> Interaction:
    """Owner or buyer logs a call, e-mail, visit or note, now."""
    caller.require("owner", "buyer")
    body = _checked(kind, body)
    purchase_row(session, caller.agency(), purchase_id, lock=True)
    row = session.execute(
        text("""
            INSERT INTO contact_interaction (purchase_id, kind, body, occurred_at, person_id,
                                             key_id)
            VALUES (:purchase, :kind, :body, clock_timestamp(), :person, :key)
            RETURNING id, occurred_at
        """),
        {"purchase": purchase_id, "kind": kind, "body": body, "person": caller.person_id,
         "key": caller.key_id},
    ).one()  # fmt: skip
    if kind in CONTACT_KINDS:
        session.execute(
            text("""
                UPDATE purchase
                SET first_contact_at = coalesce(first_contact_at, :at),
                    pipeline_status = CASE WHEN pipeline_status = 'new' THEN 'contacted'
                                           ELSE pipeline_status END
                WHERE id = :id
            """),
            {"at": row.occurred_at, "id": purchase_id},
        )
    record(session, caller, "contact.logged", "purchase", purchase_id, kind=kind)
    return Interaction(
        row.id, kind, body, row.occurred_at, _name(session, caller.person_id), caller.person_id
    )


def _checked(kind: str, body: str) -> str:
    """The body as stored, or RuleViolation: what may be logged, when logging or correcting."""
    body = body.strip()
    errors = []
    if kind not in LOGGED_KINDS:
        errors.append(FieldError("kind", "unknown_kind", f"One of {', '.join(LOGGED_KINDS)}."))
    if kind == "note" and not body:
        errors.append(FieldError("body", "required", "Write the note."))
    if len(body) > BODY_MAX:
        errors.append(FieldError("body", "too_long", f"At most {BODY_MAX:,} characters."))
    if errors:
        raise RuleViolation(errors)
    return body


def _own_entry(
    session: Session, caller: Principal, purchase_id: uuid.UUID, interaction_id: uuid.UUID
) -> None:
    """The entry, locked, when the caller may correct it: an owner any of the agency's, a buyer
    their own; a hand-over is not corrected (hand the contact over again). Another agency's
    entry is NotFound."""
    caller.require("owner", "buyer")
    purchase_row(session, caller.agency(), purchase_id, lock=True)
    row = session.execute(
        text("""
            SELECT kind, person_id FROM contact_interaction
            WHERE id = :id AND purchase_id = :purchase FOR UPDATE
        """),
        {"id": interaction_id, "purchase": purchase_id},
    ).one_or_none()
    if row is None:
        raise NotFound("No entry of this contact has this id.", code="interaction_not_found")
    if row.kind not in LOGGED_KINDS:
        raise Forbidden("A hand-over is not corrected.", code="not_correctable")
    if caller.role != "owner" and (caller.person_id is None or row.person_id != caller.person_id):
        raise Forbidden("Only its author or an owner corrects an entry.", code="not_yours")


def correct_interaction(
    session: Session,
    caller: Principal,
    purchase_id: uuid.UUID,
    interaction_id: uuid.UUID,
    kind: str,
    body: str,
) -> Interaction:
    """Its author (or an owner) corrects what was logged; when it happened stays."""
    caller.require("owner", "buyer")
    body = _checked(kind, body)
    _own_entry(session, caller, purchase_id, interaction_id)
    session.execute(
        text("""
            UPDATE contact_interaction SET kind = :kind, body = :body,
                                           edited_at = clock_timestamp()
            WHERE id = :id
        """),
        {"kind": kind, "body": body, "id": interaction_id},
    )
    _recount_first_contact(session, purchase_id)
    record(session, caller, "contact.corrected", "purchase", purchase_id,
           interaction_id=str(interaction_id), kind=kind)  # fmt: skip
    entries = timeline(session, caller.agency(), purchase_id)
    return next(i for i in entries if i.id == interaction_id)


def delete_interaction(
    session: Session, caller: Principal, purchase_id: uuid.UUID, interaction_id: uuid.UUID
) -> None:
    """Its author (or an owner) removes an entry logged by mistake."""
    _own_entry(session, caller, purchase_id, interaction_id)
    session.execute(text("DELETE FROM contact_interaction WHERE id = :id"), {"id": interaction_id})
    _recount_first_contact(session, purchase_id)
    record(session, caller, "contact.deleted", "purchase", purchase_id,
           interaction_id=str(interaction_id))  # fmt: skip


def _recount_first_contact(session: Session, purchase_id: uuid.UUID) -> None:
    """The first contact is the earliest call or e-mail still on the timeline: a corrected or
    removed entry may move it (or clear it). A "new" contact given its first call moves on;
    a stage already reached stays (the person moves it back if need be)."""
    session.execute(
        text("""
            UPDATE purchase p SET first_contact_at = first.at,
                   pipeline_status = CASE WHEN p.pipeline_status = 'new' AND first.at IS NOT NULL
                                          THEN 'contacted' ELSE p.pipeline_status END
            FROM (SELECT min(occurred_at) AS at FROM contact_interaction
                  WHERE purchase_id = :id AND kind IN :kinds) first
            WHERE p.id = :id
        """).bindparams(bindparam("kinds", expanding=True)),
        {"id": purchase_id, "kinds": list(CONTACT_KINDS)},
    )


def timeline(session: Session, agency_id: uuid.UUID, purchase_id: uuid.UUID) -> list[Interaction]:
    """Newest first."""
    purchase_row(session, agency_id, purchase_id)
    rows = session.execute(
        text("""
            SELECT i.id, i.kind, i.body, i.occurred_at, u.name, i.person_id, i.edited_at
            FROM contact_interaction i LEFT JOIN agency_user u ON u.id = i.person_id
            WHERE i.purchase_id = :id ORDER BY i.occurred_at DESC, i.id
        """),
        {"id": purchase_id},
    ).all()
    return [Interaction(*r) for r in rows]


def colleagues(session: Session, agency_id: uuid.UUID) -> list[Colleague]:
    rows = session.execute(
        text("""
            SELECT id, name FROM agency_user
            WHERE agency_id = :agency AND disabled_at IS NULL AND password_hash IS NOT NULL
              AND role IN ('owner', 'buyer')
            ORDER BY lower(name), id
        """),
        {"agency": agency_id},
    ).all()
    return [Colleague(r.id, r.name) for r in rows]


def colleague(session: Session, agency_id: uuid.UUID, person_id: uuid.UUID | None) -> Colleague:
    """A collaborator who may be given a contact, a reminder or an appointment."""
    found = [c for c in colleagues(session, agency_id) if c.id == person_id]
    if not found:
        raise RuleViolation.at(
            "person_id", "unknown_person", "Choose an owner or buyer of your agency."
        )
    return found[0]


def assign(
    session: Session, caller: Principal, purchase_id: uuid.UUID, person_id: uuid.UUID, note: str
) -> Interaction:
    """Owner or buyer hands the contact to a collaborator, with a note: on the timeline, and
    the collaborator is told by e-mail (unless they assigned it to themselves)."""
    caller.require("owner", "buyer")
    agency_id = caller.agency()
    note = note.strip()
    if len(note) > 1000:
        raise RuleViolation.at("note", "too_long", "At most 1,000 characters.")
    purchase = purchase_row(session, agency_id, purchase_id, lock=True)
    to = colleague(session, agency_id, person_id)
    session.execute(
        text("UPDATE purchase SET assigned_to = :person WHERE id = :id"),
        {"person": to.id, "id": purchase_id},
    )
    body = to.name + (f" — {note}" if note else "")
    row = session.execute(
        text("""
            INSERT INTO contact_interaction (purchase_id, kind, body, occurred_at, person_id,
                                             key_id)
            VALUES (:purchase, 'assigned', :body, clock_timestamp(), :person, :key)
            RETURNING id, occurred_at
        """),
        {"purchase": purchase_id, "body": body, "person": caller.person_id, "key": caller.key_id},
    ).one()
    by = _name(session, caller.person_id)
    if to.id != caller.person_id:
        email = session.execute(
            text("SELECT email FROM agency_user WHERE id = :id"), {"id": to.id}
        ).scalar_one()
        # Nothing about the homeowner in the e-mail (an erasure could not reach it): the note
        # and the contact are on the page.
        lines = [
            "Bonjour,",
            "",
            f"{by or 'Votre agence'} vous confie un contact à {purchase['city']} "
            f"({purchase['postal_code']}){', avec une note' if note else ''}.",
            "",
            f"La fiche du contact : {public_url()}/pro/contacts/{purchase_id}",
            "— Mandat",
        ]
        enqueue_mail(
            session, email, "contact.assigned", str(row.id),
            f"Un contact vous est confié à {purchase['city']}", "\n".join(lines),
        )  # fmt: skip
    record(session, caller, "contact.assigned", "purchase", purchase_id, person_id=str(to.id))
    return Interaction(row.id, "assigned", body, row.occurred_at, by, caller.person_id)


def _name(session: Session, person_id: uuid.UUID | None) -> str | None:
    if person_id is None:
        return None
    name: str | None = session.execute(
        text("SELECT name FROM agency_user WHERE id = :id"), {"id": person_id}
    ).scalar_one_or_none()
    return name
