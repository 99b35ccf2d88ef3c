"""Speed to lead: a bought contact still "new" with no call or e-mail logged reminds whoever works
it after `speed_to_lead_reminder_minutes`, and the agency's owners after
`speed_to_lead_owner_hours`; each reminder is sent once per purchase. The team page shows each
person's median time from purchase to first contact.

"Once" holds however many jobs run at the same moment: a purchase is claimed by the UPDATE that
stamps it (rows another run holds are skipped, a stamped row no longer matches), and the e-mail
is written in that same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.config import public_url
from engine.notify.outbox import enqueue_mail

BATCH = 500

_CLAIM = """
    WITH due AS (
        SELECT p.id FROM purchase p
        WHERE p.pipeline_status = 'new' AND p.first_contact_at IS NULL
          AND p.{stamp} IS NULL AND p.created_at <= :before
        ORDER BY p.created_at LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    UPDATE purchase p SET {stamp} = :now
    FROM due, lead l, estimation e, commune c
    WHERE p.id = due.id AND l.id = p.lead_id AND e.id = l.estimation_id
      AND c.code = e.commune_code
    RETURNING p.id, p.agency_id, p.created_at,
              coalesce(p.assigned_to, p.bought_by_person) AS worker, c.name AS city, e.postal_code
"""

_WORKER = text("""
    SELECT email, lang FROM agency_user
    WHERE id = :id AND disabled_at IS NULL AND password_hash IS NOT NULL
""")

_OWNERS = text("""
    SELECT email, lang FROM agency_user
    WHERE agency_id = :agency AND role = 'owner' AND disabled_at IS NULL
      AND password_hash IS NOT NULL
""")


def remind_waiting_contacts(
    session: Session, now: datetime, settings: dict[str, Any]
) -> dict[str, int]:
    """The reminders due now: how many purchases reminded their worker, and their owners."""
    worker_after = timedelta(minutes=int(settings["speed_to_lead_reminder_minutes"]))
    owner_after = timedelta(hours=int(settings["speed_to_lead_owner_hours"]))
    counts = {"buyer": 0, "owner": 0}
    for purchase in _claim(session, "buyer_reminded_at", now - worker_after, now):
        people: list[Any] = []
        if purchase.worker is not None:
            people = list(session.execute(_WORKER, {"id": purchase.worker}).all())
        if not people:  # bought with an API key, or the person left: the owners hear of it
            people = list(session.execute(_OWNERS, {"agency": purchase.agency_id}).all())
        _mail(session, people, purchase, "buyer", now)
        counts["buyer"] += 1
    for purchase in _claim(session, "owner_reminded_at", now - owner_after, now):
        owners = list(session.execute(_OWNERS, {"agency": purchase.agency_id}).all())
        _mail(session, owners, purchase, "owner", now)
        counts["owner"] += 1
    return counts


def _claim(session: Session, stamp: str, before: datetime, now: datetime) -> list[Any]:
    return list(
        session.execute(
            text(_CLAIM.format(stamp=stamp)), {"before": before, "now": now, "batch": BATCH}
        ).all()
    )


def _mail(session: Session, people: list[Any], purchase: Any, who: str, now: datetime) -> None:
    waited = int((now - purchase.created_at).total_seconds() // 60)
    place = f"{purchase.city} ({purchase.postal_code})"
    link = f"{public_url()}/pro/contacts/{purchase.id}"
    for person in people:
        if person.lang == "en":
            subject = f"A contact in {place} is still waiting for a first call"
            body = [
                "Hello,",
                "",
                f"A contact your agency bought {_waited_en(waited)} ago in {place} has had no call "
                "or e-mail logged yet. The first agency to call often wins the mandate.",
            ]
            if who == "owner":
                body.append("You receive this as an owner of the agency.")
            body += ["", f"The contact: {link}", "— Mandat"]
        else:
            subject = f"Un contact à {place} attend toujours un premier appel"
            body = [
                "Bonjour,",
                "",
                f"Un contact acheté par votre agence il y a {_waited_fr(waited)} à {place} n'a "
                "encore aucun appel ni e-mail noté. La première agence qui appelle remporte "
                "souvent le mandat.",
            ]
            if who == "owner":
                body.append("Vous recevez ce message en tant que responsable de l'agence.")
            body += ["", f"La fiche du contact : {link}", "— Mandat"]
        enqueue_mail(
            session, person.email, f"contact.waiting.{who}", f"{purchase.id}:{who}", subject,
            "\n".join(body),
        )  # fmt: skip


def _waited_fr(minutes: int) -> str:
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


def _waited_en(minutes: int) -> str:
    return f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"


@dataclass(frozen=True)
class Speed:
    """One person's contacts: the median time from purchase to first call or e-mail (of those
    contacted), how many are still waiting, and their last activity (page seen or action)."""

    median_seconds: float | None
    contacted: int
    waiting: int
    last_activity: datetime | None


def team_speed(session: Session, agency_id: uuid.UUID) -> dict[uuid.UUID, Speed]:
    """By person: a contact counts for the collaborator it is assigned to, else its buyer."""
    rows = session.execute(
        text("""
            WITH worked AS (
                SELECT coalesce(p.assigned_to, p.bought_by_person) AS person,
                       extract(epoch FROM p.first_contact_at - p.created_at) AS seconds,
                       p.first_contact_at IS NULL AND p.pipeline_status = 'new' AS waiting
                FROM purchase p WHERE p.agency_id = :agency
            )
            SELECT u.id,
                   (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY w.seconds)
                    FROM worked w WHERE w.person = u.id AND w.seconds IS NOT NULL) AS median,
                   (SELECT count(*) FROM worked w
                    WHERE w.person = u.id AND w.seconds IS NOT NULL) AS contacted,
                   (SELECT count(*) FROM worked w WHERE w.person = u.id AND w.waiting) AS waiting,
                   greatest(u.last_seen_at,
                            (SELECT max(i.occurred_at) FROM contact_interaction i
                             WHERE i.person_id = u.id)) AS last_activity
            FROM agency_user u WHERE u.agency_id = :agency
        """),
        {"agency": agency_id},
    ).all()
    return {
        r.id: Speed(
            float(r.median) if r.median is not None else None, r.contacted, r.waiting,
            r.last_activity,
        )
        for r in rows
    }  # fmt: skip
