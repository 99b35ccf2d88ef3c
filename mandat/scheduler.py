"""`mandat scheduler`: the one process that runs background jobs (APScheduler 3) on their
schedule: offers turning shared, the catalogue's expired entries (every 10 minutes),
notifications, the monthly billing run (1st, 04:00 Paris), dunning (daily), speed-to-lead
reminders (every minute) and the agenda digest (07:00 Paris). The jobs themselves are services
(engine.jobs).

One scheduler at a time: it holds a PostgreSQL advisory lock on its own connection for its whole
life, so a second `mandat scheduler` waits until the first stops instead of running every job
twice. After a failover it takes the lock again on the new primary before running jobs again.
Each job is a short transaction; the API never depends on a job having run (offers read their
phase from the clock), jobs only announce and deliver.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from engine.config import direct_database_url
from engine.db import get_engine, is_connection_lost
from engine.jobs import (
    PARIS,
    agenda_digests,
    announce_offers,
    deliver_notifications,
    dunning,
    einvoices,
    monthly_billing,
    purge_catalogue,
    reconciliation,
    requested_billing_runs,
    retention,
    speed_to_lead,
)

log = logging.getLogger("mandat.scheduler")
SCHEDULER_LOCK = 726_400_001  # pg_advisory_lock key: "the scheduler"


# name: (job, trigger, trigger arguments, run once at start)
JOBS: dict[str, tuple[Callable[[], Any], str, dict[str, Any], bool]] = {
    "announce_offers": (announce_offers, "interval", {"seconds": 60}, True),
    "deliver_notifications": (deliver_notifications, "interval", {"seconds": 10}, True),
    "purge_catalogue": (purge_catalogue, "interval", {"minutes": 10}, True),
    "monthly_billing": (monthly_billing, "cron", {"day": 1, "hour": 4}, False),
    "requested_billing_runs": (requested_billing_runs, "interval", {"seconds": 30}, True),
    "einvoices": (einvoices, "interval", {"seconds": 60}, True),
    "dunning": (dunning, "cron", {"hour": 9}, True),
    "reconciliation": (reconciliation, "cron", {"hour": 6}, False),
    "retention": (retention, "cron", {"hour": 3}, False),
    "speed_to_lead": (speed_to_lead, "interval", {"seconds": 60}, True),
    "agenda_digests": (agenda_digests, "cron", {"hour": 7}, False),
}


class SchedulerLock:
    """The scheduler's advisory lock, held by a connection of its own straight to the primary
    (MANDAT_DIRECT_DATABASE_URL: a session lock cannot live behind a transaction pooler)."""

    def __init__(self) -> None:
        self._engine = get_engine(direct_database_url())
        self._holder: Connection | None = None

    def acquire(self, retry_s: float = 1.0) -> None:
        """Waits for the lock; while the database is unreachable (a failover), tries again."""
        while True:
            try:
                holder = self._engine.connect()
                holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": SCHEDULER_LOCK})
                holder.commit()
            except DBAPIError as error:
                if not is_connection_lost(error):
                    raise
                log.warning("scheduler lock: database unreachable, trying again")
                time.sleep(retry_s)
                continue
            self._holder = holder
            return

    def held(self) -> bool:
        """Whether our connection is alive and still holds the lock: a failover ends the
        connection, and the lock with it (the new primary never saw it)."""
        if self._holder is None:
            return False
        try:
            held = self._holder.execute(_HOLDS_LOCK, {"k": SCHEDULER_LOCK}).scalar_one()
            self._holder.commit()
        except DBAPIError as error:
            if not is_connection_lost(error):
                raise
            held = False
        if not held:
            self._drop()
        return bool(held)

    def release(self) -> None:
        if self._holder is not None:
            try:
                self._holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEDULER_LOCK})
            except DBAPIError as error:
                if not is_connection_lost(error):
                    raise
            self._drop()

    def _drop(self) -> None:
        if self._holder is not None:
            with contextlib.suppress(DBAPIError):
                self._holder.close()
        self._holder = None


_HOLDS_LOCK = text(
    """
    SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted
                   AND pid = pg_backend_pid() AND objid = :k)
    """
)
LOCK_CHECK_S = 5


def run_scheduler(on_locked: Callable[[], None] | None = None) -> None:
    """Wait for the scheduler lock, then run the jobs until interrupted. Every few seconds the
    lock is checked: lost with its connection (a failover), the jobs pause until it is held
    again on the new primary."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    lock = SchedulerLock()
    log.info("waiting for the scheduler lock")
    lock.acquire()
    log.info("scheduler lock held: running jobs")
    from engine.billing.requested_runs import release_orphaned_runs

    if released := release_orphaned_runs():
        log.warning("%d billing runs a stopped scheduler left unfinished: again", released)
    if on_locked:
        on_locked()
    scheduler = BlockingScheduler(timezone=PARIS)

    def keep_lock() -> None:
        if lock.held():
            return
        log.warning("scheduler lock lost (database failover?): jobs paused until it is held")
        scheduler.pause()
        lock.acquire()
        log.info("scheduler lock held again: jobs resumed")
        scheduler.resume()

    scheduler.add_job(
        keep_lock, "interval", seconds=LOCK_CHECK_S, id="scheduler_lock", coalesce=True,
        max_instances=1, misfire_grace_time=None,
    )  # fmt: skip
    for name, (job, trigger, arguments, at_start) in JOBS.items():
        extra = {"next_run_time": datetime.now(PARIS)} if at_start else {}
        scheduler.add_job(
            _logged(name, job),
            trigger,
            id=name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
            **arguments,
            **extra,
        )
    try:
        scheduler.start()
    finally:
        lock.release()


def _logged(name: str, job: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        try:
            result = job()
        except Exception:
            log.exception("job %s failed", name)
            return
        log.info("job %s: %s", name, result)

    return run
