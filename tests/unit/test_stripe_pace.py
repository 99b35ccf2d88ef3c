"""The pace of Stripe calls: evenly spaced at the rate, turns missed while every worker was busy
made up by at most `burst` at once, never more than rate + burst calls in a second, in one
process or in several sharing it."""

from __future__ import annotations

import multiprocessing
import threading
import time
from itertools import pairwise
from typing import Any

from engine.billing.stripe_gateway import Pace


def times_of(pace: Pace, calls: int) -> list[float]:
    started = []
    for _ in range(calls):
        pace.wait()
        started.append(time.monotonic())
    return started


def test_turns_missed_while_busy_are_made_up_by_at_most_the_burst() -> None:
    pace = Pace(rate=20, burst=4)  # a turn every 50 ms
    pace.wait()
    time.sleep(0.4)  # every worker busy: eight turns go by

    at = times_of(pace, 7)

    assert at[3] - at[0] < 0.03  # four made up at once…
    gaps = [b - a for a, b in pairwise(at[3:])]
    assert min(gaps) >= 0.045, gaps  # …then the rate again: the rest are lost


def test_without_a_burst_every_call_waits_its_turn() -> None:
    pace = Pace(rate=20)
    pace.wait()
    time.sleep(0.2)

    at = times_of(pace, 4)

    gaps = [b - a for a, b in pairwise(at)]
    assert min(gaps) >= 0.045, gaps


def test_a_hold_forfeits_the_turns_saved_up() -> None:
    pace = Pace(rate=20, burst=4)
    pace.wait()
    time.sleep(0.3)
    pace.hold(0.1)  # Stripe said 429
    held = time.monotonic()

    at = times_of(pace, 3)

    assert at[0] - held >= 0.09
    gaps = [b - a for a, b in pairwise(at)]
    assert min(gaps) >= 0.045, gaps


def test_many_threads_never_pass_rate_and_burst_in_a_second() -> None:
    rate, burst = 100, 10
    pace = Pace(rate, burst)
    at: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(30):
            pace.wait()
            with lock:
                at.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    at.sort()
    busiest = max(sum(1 for t in at if s <= t < s + 1) for s in at)
    assert busiest <= rate + burst, busiest
    achieved = (len(at) - burst) / (at[-1] - at[0])
    assert achieved <= 1.05 * rate, achieved


def _calls(pace: Pace, calls: int, start: Any, into: Any) -> None:
    start.wait()  # both processes call at the same time
    into.put(times_of(pace, calls))


def test_processes_given_one_shared_pace_keep_it_together() -> None:
    rate, burst = 40, 4
    context = multiprocessing.get_context("spawn")
    pace = Pace(rate, burst, shared_by=context)
    start, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_calls, args=(pace, 20, start, results)) for _ in range(2)]
    for process in processes:
        process.start()
    at = sorted(results.get(timeout=30) + results.get(timeout=30))
    for process in processes:
        process.join()

    # Alone, each process would make its 20 calls at 40/s: together they take twice as long.
    assert at[-1] - at[0] >= (len(at) - burst) / rate * 0.95
    busiest = max(sum(1 for t in at if s <= t < s + 0.5) for s in at)
    assert busiest <= rate * 0.5 + burst + 1, busiest  # apart: about 40 in half a second
