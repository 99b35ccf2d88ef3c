"""Billing runs asked for over the API (`request_run`): recorded, then run by the scheduler's
`run_requested`, never inside a request; their status, and the runs a killed scheduler left.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.billing.read_models import BillingRunState
from engine.billing.run import RunReport, ended, incomplete_agencies, run_billing
from engine.db import unit_of_work
from engine.errors import NotFound

_WAITING = text("""
    SELECT id FROM billing_run WHERE period = :period AND started_at IS NULL
    ORDER BY requested_at LIMIT 1
""")
_CLAIM_REQUESTED = text("""
    UPDATE billing_run SET started_at = clock_timestamp()
    WHERE id = (SELECT id FROM billing_run WHERE started_at IS NULL
                ORDER BY requested_at LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id, period
""")
_RUN = text("""
    SELECT id, period, requested_at, started_at, finished_at, invoices, charged, failed
    FROM billing_run WHERE id = :id
""")


def request_run(session: Session, period: date, now: datetime, by: Principal) -> uuid.UUID:
    """Ask the scheduler to run `period`'s billing (an ended month). Asking again while a run
    of that month is still waiting answers that run."""
    ended(period, now)
    waiting: uuid.UUID | None = session.execute(_WAITING, {"period": period}).scalar()
    if waiting is not None:
        return waiting
    run_id: uuid.UUID = session.execute(
        text("""
            INSERT INTO billing_run (period, requested_at, requested_by, started_at)
            VALUES (:period, clock_timestamp(), :by, NULL)
            RETURNING id
        """),
        {"period": period, "by": by.key_id},
    ).scalar_one()
    record(session, by, "billing_run.requested", "billing_run", run_id, period=f"{period:%Y-%m}")
    return run_id


def run_requested(now: datetime) -> list[RunReport]:
    """Run the billing runs asked for over the API, oldest first, each claimed by one
    scheduler (`SKIP LOCKED`) and marked started in the claim's transaction."""
    reports: list[RunReport] = []
    while True:
        with unit_of_work() as session:
            claimed = session.execute(_CLAIM_REQUESTED).first()
        if claimed is None:
            return reports
        try:
            reports.append(run_billing(claimed.period, now, run_id=claimed.id))
        except BaseException:
            # Back to requested: the next pass runs it again (a run does only what is left).
            release_orphaned_runs(claimed.id)
            raise


def release_orphaned_runs(run_id: uuid.UUID | None = None) -> int:
    """Requested runs started but never finished go back to requested (`run_id`: that one, after
    it failed). Without `run_id`, called by the scheduler once it holds its lock: no other
    process runs requested runs, so an unfinished one was left by a scheduler killed mid-run."""
    with unit_of_work() as session:
        released: int = session.execute(
            text("""
                UPDATE billing_run SET started_at = NULL
                WHERE requested_at IS NOT NULL AND started_at IS NOT NULL
                  AND finished_at IS NULL AND (CAST(:id AS uuid) IS NULL OR id = :id)
            """),
            {"id": run_id},
        ).rowcount  # type: ignore[attr-defined]
    return released


def run_status(session: Session, run_id: uuid.UUID) -> BillingRunState:
    row = session.execute(_RUN, {"id": run_id}).mappings().one_or_none()
    if row is None:
        raise NotFound("No billing run has this id.", code="billing_run_not_found")
    status = (
        "requested" if row["started_at"] is None
        else "running" if row["finished_at"] is None
        else "finished"
    )  # fmt: skip
    return BillingRunState(
        **{**row, "period": f"{row['period']:%Y-%m}"},
        status=status,
        incomplete_agencies=incomplete_agencies(session, row["period"]),
    )
