"""Reads that may lag a few seconds, sent to a hot standby (`MANDAT_REPLICA_URL`).

`read_lagging(work)` runs `work(session)` on the replica when one is configured, reachable and
behind the primary by at most `MANDAT_REPLICA_MAX_LAG_S` seconds (default 5); otherwise on the
primary. A replica that fails under the read (it went away, or replay cancelled the query) is set
aside for a few seconds and the read runs again on the primary: reads are safe to repeat.

Which reads may lag is docs/scaling.md §3: the catalogue and one offer (the purchase re-checks
everything on the primary under the offer's lock, so a stale page costs at most a 409),
invoices and credit notes, the transparency page. Authentication, writes, and the reads that
must see a write just made (a buyer's purchases, the live inbox's card of a new lead) stay on
the primary.

The lag is the standby's own view, checked at most once a second per process: zero when it has
replayed all it received from a streaming WAL receiver (a role without pg_read_all_stats does
not see the receiver's state: then only that it runs), else the age of the last transaction it
replayed. A standby cut from its primary therefore counts as lagging as soon as the primary has
written anything since, and it is then not read.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.config import sqlalchemy_url
from engine.db import is_connection_lost, unit_of_work

log = logging.getLogger("mandat.replica")
T = TypeVar("T")

CHECK_EVERY_S = 1.0  # the lag is read again after this long
SET_ASIDE_S = 5.0  # a replica that failed is not tried again for this long
# The standby cancels a query that conflicts with replay (40001 there); a query on a standby
# being promoted or shut down ends with the connection errors of engine.db.
_RETRY_ON_PRIMARY = {"40001"}

_LAG = text("""
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN coalesce((SELECT coalesce(status = 'streaming', true) FROM pg_stat_wal_receiver),
                      false)
             AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
        ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 'Infinity')
    END AS lag_s
""")


CONNECT_TIMEOUT_S = 2  # a standby whose host does not answer is given up quickly


def replica_url() -> str | None:
    """MANDAT_REPLICA_URL, with a short connect timeout unless it names one."""
    raw = os.environ.get("MANDAT_REPLICA_URL")
    if not raw:
        return None
    if "connect_timeout=" not in raw:
        raw += ("&" if "?" in raw else "?") + f"connect_timeout={CONNECT_TIMEOUT_S}"
    return sqlalchemy_url(raw)


def max_lag_s() -> float:
    return float(os.environ.get("MANDAT_REPLICA_MAX_LAG_S", "5"))


class _Health:
    """What this process last learnt of each replica: its lag and when, or that it failed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked: dict[str, tuple[float, float]] = {}  # url → (monotonic time, lag in s)
        self._failed: dict[str, float] = {}  # url → monotonic time of the failure

    def usable(self, url: str) -> bool:
        now = time.monotonic()
        with self._lock:
            failed = self._failed.get(url)
            if failed is not None and now - failed < SET_ASIDE_S:
                return False
            checked = self._checked.get(url)
        if checked is None or now - checked[0] >= CHECK_EVERY_S:
            lag = self._measure(url)
            with self._lock:
                self._checked[url] = (time.monotonic(), lag)
            checked = self._checked[url]
        return checked[1] <= max_lag_s()

    def _measure(self, url: str) -> float:
        try:
            with unit_of_work(url, alone=True) as session:
                return float(session.execute(_LAG).scalar_one())
        except DBAPIError as error:
            self.failed(url, error)
            return float("inf")

    def failed(self, url: str, error: BaseException) -> None:
        log.warning("replica set aside for %.0f s: %s", SET_ASIDE_S, getattr(error, "orig", error))
        with self._lock:
            self._failed[url] = time.monotonic()
            self._checked.pop(url, None)

    def forget(self) -> None:
        with self._lock:
            self._checked.clear()
            self._failed.clear()


_health = _Health()


def read_lagging(work: Callable[[Session], T]) -> T:
    """`work` on the replica if it may be read now, else on the primary (module docstring)."""
    url = replica_url()
    if url is not None and _health.usable(url):
        try:
            with unit_of_work(url, alone=True) as session:
                return work(session)
        except DBAPIError as error:
            sqlstate = getattr(error.orig, "sqlstate", None)
            if not (is_connection_lost(error) or sqlstate in _RETRY_ON_PRIMARY):
                raise
            _health.failed(url, error)
    with unit_of_work() as session:
        return work(session)


def forget_health() -> None:
    """Measure every replica afresh at its next read (tests; a changed configuration)."""
    _health.forget()
