"""The monthly billing run (docs/rules.md §7): documents for every agency, each invoice
collected as soon as its batch is committed.

Run by the scheduler on the 1st, by `mandat billing run`, or asked for over the API
(`requested_runs.request_run`: recorded, then run by the scheduler's `run_requested`, never
inside a request).
Idempotent and resumable: agencies are claimed `BATCH` at a time (`FOR UPDATE SKIP LOCKED`),
each batch's documents are written in one transaction (`issuing.issue_documents`: a few
statements for hundreds of invoices), the invoice per (agency, period) is unique; each
committed batch's invoices go to the payments phase (`payments.Payments`), which collects them
while the next batches are written, several at once within Stripe's pace, each behind its
committed attempt. Killed anywhere and run again, a run does only what is left: no second
document, number or charge.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.billing.documents import (
    INCOMPLETE_AGENCY,
    MANDATORY_AGENCY_DATA,
    PARIS,
    period_bounds,
)
from engine.billing.issuing import Issued, issue_documents
from engine.billing.payments import Payments
from engine.billing.read_models import IncompleteAgency
from engine.billing.refunding import refund_credit_note
from engine.db import unit_of_work
from engine.errors import RuleViolation
from engine.settings import read_settings

# What is left to bill: agencies with ledger lines of the period on no document yet (and the
# data an invoice must name: the others are listed for finance, never billed without it).
_WITH_LINES = """
    FROM agency a
    WHERE EXISTS (SELECT 1 FROM ledger_line l
                  WHERE l.agency_id = a.id AND l.created_at < :until
                    AND NOT EXISTS (SELECT 1 FROM document_line d WHERE d.ledger_line_id = l.id))
      AND NOT EXISTS (SELECT 1 FROM invoice i WHERE i.agency_id = a.id AND i.period = :period)
"""
_TO_BILL = f"{_WITH_LINES} AND NOT ({INCOMPLETE_AGENCY})"
_INCOMPLETE = text(f"""
    SELECT a.id, a.name, a.siret, a.email, {", ".join(f"a.{c}" for c in MANDATORY_AGENCY_DATA)}
    {_WITH_LINES} AND ({INCOMPLETE_AGENCY})
    ORDER BY a.name, a.id
""")
# A run lists the agencies to bill once per pass, then claims them by their ids, `BATCH` at a
# time, in id order: every claim is an index lookup whatever the plan (a claim that searched
# for "the next agency to bill" grew with the agencies already billed: 433 s of a 926 s run at
# 35,000 agencies). An agency locked meanwhile (another run billing it, a purchase, a profile
# change) is skipped by this pass and listed again by the next.
_LIST = text(f"SELECT a.id {_TO_BILL} ORDER BY a.id")
_CLAIM = text(f"""
    SELECT a.id {_TO_BILL} AND a.id = ANY(CAST(:agencies AS uuid[]))
    ORDER BY a.id FOR UPDATE OF a SKIP LOCKED
""")
# Agencies billed in one transaction: their rows stay locked (purchases of theirs wait) for
# its length, half a second at 1,000 invoices a second.
BATCH = 500
PASSES = 50  # passes 0.2 s apart in which every agency left was held by others
_TO_COLLECT = text("""
    SELECT i.id FROM invoice i
    WHERE i.period = :period AND i.status = 'open'
    ORDER BY i.number
""")

_TO_REFUND = text("""
    SELECT c.id FROM credit_note c JOIN invoice i ON i.id = c.invoice_id
    WHERE c.refund_status = 'pending' AND i.status = 'paid'
    ORDER BY c.number
""")


@dataclass
class RunReport:
    period: str
    invoices: int = 0
    credit_notes: int = 0
    paid: int = 0
    failed: int = 0
    unreachable: int = 0
    refunds: int = 0
    incomplete: int = 0
    notes: list[str] = field(default_factory=list)


def parse_period(value: str) -> date:
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError as error:
        raise RuleViolation.at("period", "invalid_period", "A period reads YYYY-MM.") from error


def ended(period: date, now: datetime) -> datetime:
    """The end of `period`, which must be before `now`."""
    _, until = period_bounds(period)
    if now < until:
        raise RuleViolation.at(
            "period",
            "period_not_ended",
            f"{period:%Y-%m} ends on {until.astimezone(PARIS):%Y-%m-%d}: bill it after.",
        )
    return until


def incomplete_agencies(session: Session, period: date) -> list[IncompleteAgency]:
    """Agencies with something to bill for `period` that the run left unbilled because an
    invoice could not name their registered address: for finance to have it completed."""
    until = period_bounds(period)[1]
    rows = session.execute(_INCOMPLETE, {"until": until, "period": period}).mappings()
    return [
        IncompleteAgency(
            id=row["id"],
            name=row["name"],
            siret=row["siret"],
            email=row["email"],
            missing=[c for c in MANDATORY_AGENCY_DATA if row[c] is None],
        )
        for row in rows
    ]


def run_billing(
    period: date,
    now: datetime,
    on_agency: Callable[[], None] | None = None,
    run_id: uuid.UUID | None = None,
) -> RunReport:
    """Bill every agency for `period` (ended before `now`), then collect and refund. `run_id`
    is a requested run already marked started; without it the run is recorded here."""
    until = ended(period, now)
    report = RunReport(f"{period:%Y-%m}")
    params = {"until": until, "period": period}
    with unit_of_work() as session:
        if run_id is None:
            run_id = session.execute(
                text("INSERT INTO billing_run (period) VALUES (:p) RETURNING id"), {"p": period}
            ).scalar_one()
        settings = read_settings(session)
        todo = list(session.execute(_LIST, params).scalars())
        left_open = list(session.execute(_TO_COLLECT, {"period": period}).scalars())
    # Each invoice is collected as soon as its batch is committed: the payments, paced by
    # Stripe's rate, start with the documents instead of after them.
    payments = Payments(expected=len(todo) + len(left_open))
    try:
        payments.collect(left_open)  # an earlier run's, not collected yet
        _issue_documents(params, todo, now, run_id, settings, report, on_agency, payments)
        with unit_of_work() as session:
            report.incomplete = len(incomplete_agencies(session, period))
            payments.collect(session.execute(_TO_COLLECT, {"period": period}).scalars())
    except BaseException:
        payments.stop()
        raise
    if report.incomplete:
        report.notes.append(
            f"{report.incomplete} agencies were not billed: their registered address is missing"
            " (GET /api/v1/billing/runs/{id} lists them)."
        )
    for outcome in payments.outcomes():
        if outcome.status in ("paid", "nothing_due"):
            report.paid += 1
        elif outcome.status == "failed":
            report.failed += 1
        else:
            report.unreachable += 1
    with unit_of_work() as session:
        to_refund = list(session.execute(_TO_REFUND).scalars())
    for note_id in to_refund:
        report.refunds += refund_credit_note(note_id) == "refunded"
    if report.unreachable:
        report.notes.append("Stripe was unreachable for some invoices: run again to collect them.")
    _finish(run_id, report)
    return report


def _issue_documents(
    params: dict[str, Any],
    todo: list[uuid.UUID],
    now: datetime,
    run_id: uuid.UUID,
    settings: dict[str, Any],
    report: RunReport,
    on_agency: Callable[[], None] | None,
    payments: Payments,
) -> None:
    """The documents phase: the agencies left to bill (`todo`, then listed again once per
    pass), claimed and billed `BATCH` at a time (one transaction, a few statements:
    `issue_documents`), `document_workers()` batches at once after the run's first; the batches
    take their numbers in their claim order (`_Turns`). Each batch's invoices are handed to
    `payments` once it is committed."""
    idle_passes, analyzed = 0, False
    while True:
        batches = [todo[start : start + BATCH] for start in range(0, len(todo), BATCH)]
        bill = partial(_bill_batch, _Turns(), params, now, run_id, settings)
        billed = 0
        for done, issued in _in_order(bill, batches, first_alone=not analyzed):
            payments.collect(issued.invoice_ids)
            if done and not analyzed:
                _analyze_documents()
                analyzed = True
            billed += done
            report.invoices += len(issued.invoice_ids)
            report.credit_notes += issued.credit_notes
            if on_agency:
                for _ in range(done):
                    on_agency()
        if not todo:
            return
        if not billed:
            if idle_passes == PASSES:
                report.notes.append(f"{len(todo)} agencies were busy throughout: run again.")
                return
            idle_passes += 1
            time.sleep(0.2)
        with unit_of_work() as session:
            todo = list(session.execute(_LIST, params).scalars())


def _bill_batch(
    turns: _Turns,
    params: dict[str, Any],
    now: datetime,
    run_id: uuid.UUID,
    settings: dict[str, Any],
    index: int,
    agencies: list[uuid.UUID],
) -> tuple[int, Issued]:
    """Batch `index` of the pass: claimed, then billed in one transaction; how many agencies
    it billed and what it issued."""
    try:
        with unit_of_work() as session:
            claimed = list(session.execute(_CLAIM, {**params, "agencies": agencies}).scalars())
            if not claimed:  # billed by another run meanwhile, or held: the next pass sees it
                return 0, Issued((), 0)
            numbering = partial(turns.turn, index)
            period = params["period"]
            return len(claimed), issue_documents(
                session, claimed, period, now, run_id, settings, numbering
            )
    finally:
        turns.passed(index)


def _in_order(
    bill: Callable[[int, list[uuid.UUID]], tuple[int, Issued]],
    batches: list[list[uuid.UUID]],
    first_alone: bool,
) -> Iterator[tuple[int, Issued]]:
    """Each batch billed, `document_workers()` at a time (the first alone when asked: the
    statistics are read after it), their results in the batches' order."""
    start = 0
    if first_alone and batches:
        yield bill(0, batches[0])
        start = 1
    with ThreadPoolExecutor(document_workers(), thread_name_prefix="documents") as pool:
        futures = [pool.submit(bill, i, batches[i]) for i in range(start, len(batches))]
        try:
            for future in futures:
                yield future.result()
        except BaseException:
            for future in futures:  # those not started: each started one waits on earlier ones only
                future.cancel()
            raise


class _Turns:
    """Batches written at once take their invoice numbers in their claim order: batch i waits
    until every batch before it has taken its numbers (or given up) before taking its own. The
    series' row lock then hands them out in that order."""

    def __init__(self) -> None:
        self._next = 0
        self._done: set[int] = set()
        self._changed = threading.Condition()

    @contextmanager
    def turn(self, index: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self._next >= index)
        try:
            yield
        finally:
            self.passed(index)

    def passed(self, index: int) -> None:
        """Batch `index` has taken its numbers, or will not: the next may take theirs."""
        with self._changed:
            self._done.add(index)
            while self._next in self._done:
                self._next += 1
            self._changed.notify_all()


def _analyze_documents() -> None:
    """Fresh statistics for the document tables once the run's first batch is in: a run writes
    more rows in minutes than autovacuum's analyze follows, and with the statistics of a (nearly)
    empty `document_line` (the first month, a new database) the planner scans the whole table for
    every line of a batch, a time that grows with the rows the run wrote. Once analyzed, the
    planner scales the counts with the table's size and keeps to its indexes. Only the tables'
    owner may analyze them: `analyze_documents()` runs as the owner (migration 0032)."""
    with unit_of_work() as session:
        session.execute(text("SELECT analyze_documents()"))


def document_workers() -> int:
    """How many batches of documents are written at once (`MANDAT_BILLING_DOCUMENT_WORKERS`,
    default 4): each is one transaction on a connection of its own, its lines written while
    another takes its numbers. Beside the payments, four gave 1,215 documents a second at
    35,000 agencies where two gave 1,009–1,159 (benchmarks/billing.py); each batch keeps its
    500 agencies locked for about 1.3 s at the median instead of 0.6–0.7."""
    return max(1, int(os.environ.get("MANDAT_BILLING_DOCUMENT_WORKERS", "4")))


def _finish(run_id: uuid.UUID, report: RunReport) -> None:
    with unit_of_work() as session:
        session.execute(
            text("""
                UPDATE billing_run SET finished_at = clock_timestamp(), invoices = :i,
                       charged = :p, failed = :f
                WHERE id = :id
            """),
            {"id": run_id, "i": report.invoices, "p": report.paid, "f": report.failed},
        )


def previous_period(now: datetime) -> date:
    local = now.astimezone(PARIS)
    return date(local.year - (local.month == 1), (local.month - 2) % 12 + 1, 1)
