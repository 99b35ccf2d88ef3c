"""The payments phase of a billing run: every invoice collected once (`collect_invoice`), as
soon as its batch of documents is committed, `payment_workers()` at a time, every Stripe call
within one pace (`stripe_gateway.pace`).

By default the run collects in threads of its own process: a collection costs about 4 ms of
its Python (the Stripe SDK, and our statements sent to psycopg directly), so 80 a second take a
third of a core (benchmarks/billing.py: 0.99 of the rate at 35,000 invoices). Asked for
(`MANDAT_BILLING_PAYMENT_PROCESSES`), a long run collects in several processes that share the
workers, the pace (in shared memory) and one queue of invoices, for a rate one interpreter
could not keep; a shorter run (fewer than `PROCESSES_FROM` invoices) still collects in
threads: starting the processes would cost more than they gain.

A crash in one collection stops the phase: no worker takes another invoice, those in flight
finish, and `outcomes` raises it. What was not collected stays open; the next run collects it,
each attempt with its own idempotency key (`collecting`)."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import suppress
from multiprocessing.connection import wait
from typing import Any

from engine.billing import stripe_gateway as gateway
from engine.billing.collecting import Collection, collect_invoice

# From this many invoices to collect a run asked for several processes starts them. Starting
# them takes 4–7 s on two cores (benchmarks/billing.py: the first payment 4.2–7.9 s into a run,
# against 1–5 s in threads), paid back only by a long run.
PROCESSES_FROM = 10_000


def payment_workers() -> int:
    """How many invoices are collected at once, all processes together
    (`MANDAT_BILLING_PAYMENT_WORKERS`, default 32). The pace caps the rate; the workers must be
    more than enough to reach it: the rate times one collection's time (80/s × 0.3–0.4 s for a
    Stripe charge and our two short transactions) is 24–32. Each holds a database connection
    only inside its transactions."""
    return max(1, int(os.environ.get("MANDAT_BILLING_PAYMENT_WORKERS", "32")))


def payment_processes() -> int:
    """How many processes a long run collects in (`MANDAT_BILLING_PAYMENT_PROCESSES`, default
    1: threads of the run's own process). More give each its own interpreter, for a rate one
    could not keep."""
    return max(1, int(os.environ.get("MANDAT_BILLING_PAYMENT_PROCESSES", "1")))


class Payments:
    """Invoices handed over with `collect` are collected in the background, each once;
    `outcomes` waits for the last and gives every collection's outcome, `stop` gives up what
    was not started."""

    def __init__(self, expected: int) -> None:
        """`expected`: about how many invoices the run will hand over (it chooses processes or
        threads of this one)."""
        processes = payment_processes() if expected >= PROCESSES_FROM else 1
        workers = payment_workers()
        self._handed: set[uuid.UUID] = set()
        self._pool: Executor
        if processes > 1:
            context = multiprocessing.get_context("spawn")  # no copy of this process's threads
            self._todo: Any = context.Queue()
            self._stop: Any = context.Event()
            pace = gateway.shared_pace(context)
            self._pool = ProcessPoolExecutor(
                processes,
                mp_context=context,
                initializer=_start_process,
                initargs=(self._todo, self._stop, pace),
            )
            each = -(-workers // processes)
            self._takers = each * processes
            self._runs: list[Future[list[Collection]]] = [
                self._pool.submit(_collect_queued, each) for _ in range(processes)
            ]
        else:
            self._todo = queue.SimpleQueue()
            self._stop = threading.Event()
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="billing-payments")
            self._takers = workers
            self._runs = [self._pool.submit(_collect_queued, workers, self._todo, self._stop)]

    def collect(self, invoices: Iterable[uuid.UUID]) -> None:
        """Queue `invoices` (in this order) for collection; one already handed over is not
        queued again, nor any once the phase is stopped (a collection crashed)."""
        if self._stop.is_set():
            return
        for invoice in invoices:
            if invoice not in self._handed:
                self._handed.add(invoice)
                self._todo.put(invoice)

    def outcomes(self) -> list[Collection]:
        """Every handed invoice's outcome, once the last is collected; the first crash of a
        collection raised."""
        self._close()
        try:
            return [outcome for run in self._runs for outcome in run.result()]
        except BaseException:  # a crash, or this process interrupted: none is started after it
            self._stop.set()
            raise
        finally:
            self._shut()

    def stop(self) -> None:
        """No invoice not yet started is collected; those in flight finish."""
        self._stop.set()
        self._close()
        self._shut()

    def _shut(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if hasattr(self._todo, "cancel_join_thread"):
            # The processes are gone: what a stopped phase left queued is dropped, not waited
            # for at this process's exit.
            self._todo.close()
            self._todo.cancel_join_thread()

    def _close(self) -> None:
        for _ in range(self._takers):  # one end mark for each worker
            self._todo.put(None)


_queued: Any = None
_stopped: Any = None


def _start_process(todo: Any, stop: Any, pace: gateway.Pace) -> None:
    """A payment process's start: the run's queue and stop signal, and its pace for every
    Stripe call. Interrupted, the run stops its payments itself (the terminal's Ctrl-C reaches
    the whole group: ignored here); killed, it takes its payment processes with it."""
    global _queued, _stopped
    _queued, _stopped = todo, stop
    gateway.use_pace(pace)
    with suppress(gateway.StripeUnreachable):  # no key: each collection says so
        gateway.client()  # built before the first turn, not inside it (≈ 0.2 s)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with_the_run, daemon=True, name="billing-run-watch").start()


def _end_with_the_run() -> None:
    """Waits for the run's process to end; if it ends first (killed), so does this one, at
    once, as the run did: a collection cut short is retried by the next run with its key."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        os._exit(1)


def _collect_queued(workers: int, todo: Any = None, stop: Any = None) -> list[Collection]:
    """`workers` threads collecting the queued invoices until each takes an end mark or the
    phase is stopped; their outcomes. Run in a payment process (the queue and signal its start
    gave it) or in a thread of the run's own process."""
    todo, stop = todo or _queued, stop or _stopped
    outcomes: list[Collection] = []

    def take() -> None:
        while not stop.is_set():
            invoice = todo.get()
            if invoice is None or stop.is_set():
                return
            try:
                outcomes.append(collect_invoice(invoice))
            except BaseException:
                stop.set()
                raise

    with ThreadPoolExecutor(workers, thread_name_prefix="billing-collect") as threads:
        taking = [threads.submit(take) for _ in range(workers)]
    for done in taking:
        done.result()
    return outcomes
