"""`mandat scheduler`: the one process that runs background jobs (APScheduler 3).

One scheduler at a time: it holds a PostgreSQL advisory lock on its own connection for its whole
life, so a second `mandat scheduler` waits until the first stops instead of running every job
twice. Each job is a short transaction; the API never depends on a job having run (offers read
their phase from the clock), jobs only announce and deliver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from engine.db import get_engine, unit_of_work
from engine.notify.deliver import deliver_due
from engine.sales.offers import announce_transitions

log = logging.getLogger("mandat.scheduler")
SCHEDULER_LOCK = 726_400_001  # pg_advisory_lock key: "the scheduler"
PARIS = ZoneInfo("Europe/Paris")


def announce_offers() -> dict[str, int]:
    with unit_of_work() as session:
        now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        return announce_transitions(session, now)


def deliver_notifications() -> dict[str, int]:
    """Batches until nothing is due, each batch its own transaction."""
    totals = {"delivered": 0, "retried": 0, "given_up": 0}
    while True:
        with unit_of_work() as session:
            now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
            report = deliver_due(session, now)
        totals["delivered"] += report.delivered
        totals["retried"] += report.retried
        totals["given_up"] += report.given_up
        if report.delivered + report.retried + report.given_up < 100:
            return totals


JOBS: dict[str, tuple[Callable[[], Any], dict[str, Any]]] = {
    "announce_offers": (announce_offers, {"seconds": 60}),
    "deliver_notifications": (deliver_notifications, {"seconds": 10}),
}


def run_scheduler(on_locked: Callable[[], None] | None = None) -> None:
    """Wait for the scheduler lock, then run the jobs until interrupted."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    with get_engine().connect() as holder:
        log.info("waiting for the scheduler lock")
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": SCHEDULER_LOCK})
        holder.commit()
        log.info("scheduler lock held: running jobs")
        if on_locked:
            on_locked()
        scheduler = BlockingScheduler(timezone=PARIS)
        for name, (job, every) in JOBS.items():
            scheduler.add_job(
                _logged(name, job),
                "interval",
                id=name,
                coalesce=True,
                max_instances=1,
                next_run_time=datetime.now(PARIS),  # once at start, then at each interval
                **every,
            )
        try:
            scheduler.start()
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEDULER_LOCK})


def _logged(name: str, job: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        try:
            result = job()
        except Exception:
            log.exception("job %s failed", name)
            return
        log.info("job %s: %s", name, result)

    return run
