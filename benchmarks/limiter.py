"""What the rate limiter costs a request, in process, on a real database.

A Litestar application with one small route in the `step1` limit group (a 3-field JSON answer)
is called directly through ASGI, with no middleware (the bare application) and with the API's
own limiter (`api.limits.Limiter`) in front of it: each request then spends a token from its
client's bucket and from the overall one in PostgreSQL (`rate_bucket`, one statement on the
application's async connections, on the event loop), exactly as `mandat serve` does: a new
address's request is answered first and its tokens spent after (not timed: they are settled
between batches), the same address's waits for them. For comparison, the
same limiter as it was before it had its own pool (the statement on the engine's pool after a
hop to a worker thread; what an application called without its start-up still does). The
buckets are sized so that nothing is refused: the statement is the same whatever the sizes.
Three ways a client can look: a new address for every request (a new bucket row each time, as
homeowners are), the same address every time (its row updated), and `--concurrency` requests at
once (they queue on the overall bucket's row, and for the CPUs). As a yardstick, a `SELECT 1`
on the engine's pool after a thread hop, alone and as many at once.

Variants are interleaved round by round so that a noisy moment hits them all; the figure is the
median of the per-request times over all rounds, and the limiter's cost is its median minus the
bare application's (the judged figure: at most 1 ms at the median). `benchmarks/limiter_http.py`
measures the same over HTTP on both steps of the form, with and without the limiter, paired.

Drops and recreates the database `mandat_limiter_bench` on the server of DATABASE_URL (else the
project-local cluster) and drops it afterwards.

Run: .venv/bin/python benchmarks/limiter.py [--requests 2000] [--rounds 7] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import anyio.to_thread
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar import Litestar, post
from sqlalchemy import Engine, text

from api.errors import EXCEPTION_HANDLERS
from api.limits import Bucket, Limiter
from benchmarks.harness import bench_urls, drop_database, new_database, percentiles, plain
from engine.db import AsyncDatabase, get_engine

BENCH_DB = "mandat_limiter_bench"
# Large enough that no request of the run is refused: the limiter's work is the same.
ROOMY = {"step1": (Bucket(1e9, 1e9), Bucket(1e9, 1e9))}


@post("/api/v1/estimations", opt={"limit": "step1"}, status_code=201)
async def step1() -> dict[str, Any]:
    return {"status": "ok", "n": 1, "items": []}


def select_one() -> None:
    with autocommit_engine().connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()


@cache
def autocommit_engine() -> Engine:
    """As the limiter keeps it: made once (an `execution_options` copy costs as much as the
    round trip)."""
    return get_engine().execution_options(isolation_level="AUTOCOMMIT")


async def round_trip(_: int) -> None:
    await anyio.to_thread.run_sync(select_one)


def caller(app: Litestar, fresh: bool) -> Any:
    """One request through ASGI from client number n (a new address each time, or one)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/estimations", "raw_path": b"/api/v1/estimations",
        "query_string": b"", "root_path": "", "headers": [(b"host", b"bench")],
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def call(n: int) -> None:
        address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" if fresh else "10.0.0.1"
        await app(dict(scope, client=(address, 5000)), receive, send)  # type: ignore[arg-type]
        if statuses.pop() != 201:
            raise SystemExit("a request was refused: the figures would not be the limiter's")

    return call


async def timed(call: Any, start: int, count: int, concurrency: int) -> list[float]:
    """Per-request ms of `count` calls, `concurrency` at a time."""
    times: list[float] = []

    async def worker(first: int) -> None:
        for n in range(first, start + count, concurrency):
            began = time.perf_counter_ns()
            await call(n)
            times.append((time.perf_counter_ns() - began) / 1e6)

    await asyncio.gather(*(worker(start + w) for w in range(concurrency)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per variant and round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    admin, url = bench_urls(BENCH_DB)
    os.environ["DATABASE_URL"] = plain(url)
    new_database(admin, url, BENCH_DB)
    bare = Litestar([step1], exception_handlers=EXCEPTION_HANDLERS, logging_config=None)
    database = AsyncDatabase()
    pooled, threaded = Limiter(ROOMY, database), Limiter(ROOMY, None)  # on the loop; in a thread

    def limited(limiter: Limiter) -> Litestar:
        return Litestar(
            [step1],
            middleware=[limiter.middleware],
            exception_handlers=EXCEPTION_HANDLERS,
            logging_config=None,
        )

    crowd = args.concurrency
    variants: dict[str, tuple[Any, int]] = {
        "bare application": (caller(bare, True), 1),
        "limiter, a new address each request": (caller(limited(pooled), True), 1),
        "limiter, the same address each request": (caller(limited(pooled), False), 1),
        "before: limiter in a worker thread": (caller(limited(threaded), True), 1),
        "SELECT 1 after a thread hop (yardstick)": (round_trip, 1),
        f"bare application, {crowd} at once": (caller(bare, True), crowd),
        f"limiter, new addresses, {crowd} at once": (caller(limited(pooled), True), crowd),
        f"before: limiter in a worker thread, {crowd} at once": (
            caller(limited(threaded), True),
            crowd,
        ),
    }

    async def run() -> dict[str, list[float]]:
        await database.open(wait=True)
        times: dict[str, list[float]] = {name: [] for name in variants}
        next_client = 1
        try:
            for call, concurrency in variants.values():  # warm up pools and caches
                await timed(call, next_client, 200, concurrency)
                next_client += 200
            for _ in range(args.rounds):
                for name, (call, concurrency) in variants.items():
                    times[name] += await timed(call, next_client, args.requests, concurrency)
                    next_client += args.requests
                    await pooled.settled()  # spends left behind do not weigh on the next
        finally:
            await database.close()
        return times

    load = os.getloadavg()
    try:
        times = asyncio.run(run())
    finally:
        get_engine().dispose()
        drop_database(admin, BENCH_DB)
    rows = {name: percentiles(np.array(values)) or {} for name, values in times.items()}
    print(f"\n{'ms per request':52}{'n':>8}{'median':>9}{'p90':>9}{'p99':>9}")
    for name, row in rows.items():
        print(
            f"{name:52}{len(times[name]):>8,}{row['median']:>9.3f}"
            f"{row['p90']:>9.3f}{row['p99']:>9.3f}"
        )
    base = rows["bare application"]["median"]
    print()
    for name in (
        "limiter, a new address each request",
        "limiter, the same address each request",
        "before: limiter in a worker thread",
    ):
        cost = rows[name]["median"] - base
        verdict = "HOLDS" if cost <= 1.0 else "MISSED"
        print(f"{name}: +{cost:.3f} ms at the median (target ≤ 1 ms: {verdict})")
    bare_crowd = rows[f"bare application, {crowd} at once"]["median"]
    for name in (f"limiter, new addresses, {crowd} at once",
                 f"before: limiter in a worker thread, {crowd} at once"):  # fmt: skip
        print(f"{name}: +{rows[name]['median'] - bare_crowd:.3f} ms at the median")
    print(f"load average (1, 5, 15 min) at the start: {load}, at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
