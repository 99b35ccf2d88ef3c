"""A person's agenda (what is overdue, today and this week) and the daily digest of what is due;
a contact's reminders and appointments together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.config import public_url
from engine.crm.appointments import AppointmentRecord, appointments
from engine.crm.reminders import Reminder, reminders
from engine.notify.outbox import enqueue_mail

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Agenda:
    today: date
    overdue: list[Reminder]
    reminders: list[Reminder]  # due from today to the end of the week shown, not done
    appointments: list[AppointmentRecord]  # from today on, the week shown


def of_purchase(
    session: Session, agency_id: uuid.UUID, purchase_id: uuid.UUID
) -> tuple[list[Reminder], list[AppointmentRecord]]:
    where = {"pid": purchase_id}
    return (
        reminders(session, agency_id, "r.purchase_id = :pid", where),
        appointments(session, agency_id, "a.purchase_id = :pid", where),
    )


def day_bounds(day: date, days: int = 1) -> tuple[datetime, datetime]:
    """From midnight of `day` to midnight `days` later, Paris time."""
    start = datetime.combine(day, time(0), PARIS)
    return start, datetime.combine(day + timedelta(days=days), time(0), PARIS)


def agenda(
    session: Session, agency_id: uuid.UUID, person_id: uuid.UUID, today: date, days: int = 7
) -> Agenda:
    start, end = day_bounds(today, days)
    mine = {"person": person_id, "start": start, "end": end}
    return Agenda(
        today,
        reminders(session, agency_id,
                  "r.person_id = :person AND r.done_at IS NULL AND r.due_at < :start", mine),
        reminders(session, agency_id,
                  "r.person_id = :person AND r.done_at IS NULL AND r.due_at >= :start "
                  "AND r.due_at < :end", mine),
        appointments(session, agency_id,
                     "a.person_id = :person AND a.cancelled_at IS NULL AND a.ends_at > :start "
                     "AND a.starts_at < :end", mine),
    )  # fmt: skip


_DUE_TODAY = text("""
    SELECT u.id, u.agency_id, u.email, u.lang
    FROM agency_user u
    WHERE u.disabled_at IS NULL AND u.password_hash IS NOT NULL
      AND (EXISTS (SELECT 1 FROM contact_reminder r
                   WHERE r.person_id = u.id AND r.done_at IS NULL AND r.due_at < :end)
           OR EXISTS (SELECT 1 FROM appointment a
                      WHERE a.person_id = u.id AND a.cancelled_at IS NULL
                        AND a.starts_at >= :start AND a.starts_at < :end))
      AND NOT EXISTS (SELECT 1 FROM agenda_digest d WHERE d.person_id = u.id AND d.day = :day)
""")


def send_digests(session: Session, today: date) -> int:
    """One e-mail per person with something due today (reminders, overdue ones included, and
    the day's appointments), at most once a day per person, however many jobs run: the digest
    row is taken first and the e-mail written in the same transaction. How many were sent.

    The e-mail says when and where (the town), never who or what was written about them: an
    erasure could not reach a sent e-mail; the agenda page has the rest."""
    start, end = day_bounds(today)
    sent = 0
    for person in session.execute(_DUE_TODAY, {"start": start, "end": end, "day": today}).all():
        taken = session.execute(
            text("""
                INSERT INTO agenda_digest (person_id, day) VALUES (:person, :day)
                ON CONFLICT DO NOTHING RETURNING person_id
            """),
            {"person": person.id, "day": today},
        ).first()
        if taken is None:
            continue
        day_agenda = agenda(session, person.agency_id, person.id, today, days=1)
        enqueue_mail(
            session, person.email, "agenda.digest", f"{person.id}:{today.isoformat()}",
            _digest_subject(day_agenda, person.lang), _digest_text(day_agenda, person.lang),
        )  # fmt: skip
        sent += 1
    return sent


def _hm(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%H:%M")


def _digest_subject(day: Agenda, lang: str) -> str:
    count = len(day.overdue) + len(day.reminders) + len(day.appointments)
    if lang == "en":
        return f"Your day on Mandat: {count} thing{'s' if count > 1 else ''} to do"
    return f"Votre journée sur Mandat : {count} à faire"


def _digest_text(day: Agenda, lang: str) -> str:
    en = lang == "en"
    lines = ["Hello," if en else "Bonjour,", ""]
    if day.appointments:
        lines.append("Appointments today:" if en else "Rendez-vous du jour :")
        lines += [f"- {_hm(a.starts_at)}–{_hm(a.ends_at)}, {a.town}" for a in day.appointments]
        lines.append("")
    if day.overdue:
        lines.append("Overdue reminders:" if en else "Rappels en retard :")
        lines += [f"- {r.town}" for r in day.overdue]
        lines.append("")
    if day.reminders:
        lines.append("Reminders today:" if en else "Rappels du jour :")
        lines += [f"- {_hm(r.due_at)}, {r.town}" for r in day.reminders]
        lines.append("")
    lines.append(("Your agenda: " if en else "Votre agenda : ") + f"{public_url()}/pro/agenda")
    lines.append("— Mandat")
    return "\n".join(lines)
