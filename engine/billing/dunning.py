"""Dunning (docs/rules.md §7): reminders, then suspension, for an invoice whose payment failed.

`due_steps(case, schedule, now)` is the schedule on plain values: the steps due now and not yet
taken, in order (first reminder, second reminder, suspension), each once. `run_dunning` reads
the open cases, takes their due steps and queues what the agency is told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.agencies import standing
from engine.notify.outbox import enqueue


@dataclass(frozen=True)
class Schedule:
    reminder_days: tuple[int, int]  # after the failure: the first and the second reminder
    suspend_after_days: int


@dataclass(frozen=True)
class Case:
    failed_at: datetime
    reminded: tuple[bool, bool]  # each reminder already sent
    suspended: bool


@dataclass(frozen=True)
class Step:
    kind: str  # reminder | suspension
    column: str  # where `dunning` records it was taken
    days: int  # after the failure


REMINDER_COLUMNS = ("reminded_3_at", "reminded_7_at")


def schedule_of(settings: dict[str, Any]) -> Schedule:
    first, second = (int(d) for d in settings["dunning_reminder_days"][:2])
    return Schedule((first, second), int(settings["dunning_suspend_days"]))


def due_steps(case: Case, schedule: Schedule, now: datetime) -> list[Step]:
    """The steps due at `now` that were not taken yet, in order."""
    age = now - case.failed_at
    steps = [
        Step("reminder", column, days)
        for days, column, sent in zip(
            schedule.reminder_days, REMINDER_COLUMNS, case.reminded, strict=True
        )
        if age >= timedelta(days=days) and not sent
    ]
    if age >= timedelta(days=schedule.suspend_after_days) and not case.suspended:
        steps.append(Step("suspension", "suspended_at", schedule.suspend_after_days))
    return steps


_OPEN_CASES = text("""
    SELECT d.id, d.agency_id, d.invoice_id, d.failed_at, d.reminded_3_at, d.reminded_7_at,
           d.suspended_at, i.number,
           i.total_ttc_cents - coalesce((SELECT sum(c.total_ttc_cents) FROM credit_note c
                                         WHERE c.invoice_id = i.id), 0) AS due_cents
    FROM dunning d JOIN invoice i ON i.id = d.invoice_id
    WHERE d.resolved_at IS NULL
    FOR UPDATE OF d SKIP LOCKED
""")


def run_dunning(session: Session, now: datetime, settings: dict[str, Any]) -> dict[str, int]:
    """Each open case's due steps (reminders at +3 and +7 days, suspension at +15 by default):
    recorded, and the agency told once per step."""
    schedule = schedule_of(settings)
    counts = {"reminded": 0, "suspended": 0}
    for row in session.execute(_OPEN_CASES).mappings().all():
        case = Case(
            row["failed_at"],
            (row["reminded_3_at"] is not None, row["reminded_7_at"] is not None),
            row["suspended_at"] is not None,
        )
        for step in due_steps(case, schedule, now):
            session.execute(
                text(f"UPDATE dunning SET {step.column} = :now WHERE id = :id"),
                {"now": now, "id": row["id"]},
            )
            if step.kind == "reminder":
                enqueue(
                    session,
                    [row["agency_id"]],
                    "invoice.payment_reminder",
                    f"{row['invoice_id']}:{step.column}:{row['id']}",
                    {
                        "invoice_id": row["invoice_id"],
                        "number": row["number"],
                        "amount_cents": row["due_cents"],
                        "suspension_in_days": max(schedule.suspend_after_days - step.days, 0),
                    },
                )
                counts["reminded"] += 1
            else:
                standing.suspend_unpaid(session, row["agency_id"])
                enqueue(
                    session,
                    [row["agency_id"]],
                    "agency.suspended",
                    f"{row['invoice_id']}:suspended:{row['id']}",
                    {"invoice_id": row["invoice_id"], "number": row["number"]},
                )
                counts["suspended"] += 1
    return counts
