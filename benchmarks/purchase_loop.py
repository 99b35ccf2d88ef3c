"""The purchase route on the event loop against the same route in a worker thread, in process.

Drops and recreates the database `mandat_purchase_loop_bench` on the server of DATABASE_URL
(else the project-local cluster), migrates it, seeds agencies and qualified leads with the
project's own code (benchmarks/harness.py) and a `buyer` key per agency. Two instances of the
real application (`api.app.create_app`) run in this process: `loop`, whose async connections
are open as `mandat serve` opens them at start-up, so that a key this process verified buys on
the event loop (one round trip, no worker thread); and `thread`, whose are not, so the same
purchase takes the worker-thread path that every purchase took before. Every key first reads
its catalogue (verified, remembered). Then each lead is bought once, exclusive, with an
Idempotency-Key, through ASGI (`httpx.ASGITransport`), one purchase at a time, in blocks
alternating between the two sides so that a noisy moment hits both.

Per side: the median and p90 of the route's latency, this process's CPU per purchase
(`time.process_time`, worker threads included) and the bench database's backends' (from
/proc/<pid>/schedstat). The ratios loop/thread are the figures to quote.

Run: .venv/bin/python benchmarks/purchase_loop.py [--agencies 8] [--leads 2000] [--block 50]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import (  # noqa: E402
    add_agencies,
    bench_urls,
    drop_database,
    make_leads,
    new_database,
    plain,
)
from benchmarks.purchase_call import backend_ns  # noqa: E402

BENCH_DB = "mandat_purchase_loop_bench"


def seed(url: str, agencies: int, leads: int) -> tuple[dict[uuid.UUID, str], list[Any]]:
    """Each agency's key, and the leads each agency may buy with their exclusive price."""
    from engine.accounts.keys import create_key
    from engine.db import unit_of_work

    with unit_of_work(url) as session:
        add_agencies(session, agencies)
    make_leads(url, leads, np.random.default_rng(11))
    with unit_of_work(url) as session:
        ids = list(session.execute(text("SELECT id FROM agency ORDER BY id")).scalars())
        keys = {a: create_key(session, "buyer", a).key for a in ids}
        offers = session.execute(
            text("""SELECT c.agency_id, o.lead_id, o.exclusive_price_cents
                    FROM offer o JOIN lead_consent c ON c.lead_id = o.lead_id
                    ORDER BY md5(o.lead_id::text)""")
        ).all()
    return keys, offers


async def measure(
    args: argparse.Namespace, url: str, keys: dict[uuid.UUID, str], offers: list[Any]
) -> None:
    from api.app import create_app

    apps = {"loop": create_app(), "thread": create_app()}
    await apps["loop"].state.database.open(wait=True)
    clients = {
        side: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        for side, app in apps.items()
    }
    for client in clients.values():
        for key in keys.values():
            answer = await client.get("/api/v1/leads", headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 200, answer.text
    taken: set[uuid.UUID] = set()
    queue = [(a, lead, price) for a, lead, price in offers]
    figures: dict[str, dict[str, float]] = {s: {"n": 0, "cpu": 0.0, "pg": 0.0} for s in apps}
    times: dict[str, list[float]] = {s: [] for s in apps}
    statuses: dict[str, dict[int, int]] = {s: {} for s in apps}

    async def block(side: str) -> None:
        done = 0
        cpu, pg = time.process_time(), backend_ns(url)
        while queue and done < args.block:
            agency, lead, price = queue.pop()
            if lead in taken:
                continue
            taken.add(lead)
            began = time.perf_counter_ns()
            answer = await clients[side].post(
                f"/api/v1/leads/{lead}/purchase",
                json={"mode": "exclusive", "price_cents": price},
                headers={"Authorization": f"Bearer {keys[agency]}",
                         "Idempotency-Key": f"bench-{lead}"},
            )  # fmt: skip
            elapsed = (time.perf_counter_ns() - began) / 1e6
            statuses[side][answer.status_code] = statuses[side].get(answer.status_code, 0) + 1
            if answer.status_code == 201:
                times[side].append(elapsed)
                done += 1
        figures[side]["cpu"] += time.process_time() - cpu
        figures[side]["pg"] += (backend_ns(url) - pg) / 1e9
        figures[side]["n"] += done

    try:
        await block("loop")  # warm-up of both, not counted
        await block("thread")
        for side in apps:
            times[side].clear()
            figures[side] = {"n": 0, "cpu": 0.0, "pg": 0.0}
        while queue:
            for side in ("loop", "thread") if len(queue) % 2 else ("thread", "loop"):
                await block(side)
    finally:
        for client in clients.values():
            await client.aclose()
        await apps["loop"].state.database.close()
    print(f"\n{'per purchase':34}{'median ms':>11}{'p90 ms':>9}{'CPU ms':>9}{'PG ms':>8}{'n':>7}")
    for side, label in (("loop", "on the event loop"), ("thread", "in a worker thread")):
        ms, f = np.array(times[side]), figures[side]
        cpu_ms, pg_ms = 1000 * f["cpu"] / f["n"], 1000 * f["pg"] / f["n"]
        print(f"{label:34}{np.median(ms):>11.3f}{np.percentile(ms, 90):>9.3f}"
              f"{cpu_ms:>9.3f}{pg_ms:>8.3f}{f['n']:>7,}")  # fmt: skip
    loop, thread = np.median(times["loop"]), np.median(times["thread"])
    cpu = (figures["loop"]["cpu"] / figures["loop"]["n"]) / (
        figures["thread"]["cpu"] / figures["thread"]["n"]
    )
    print(f"loop ÷ thread: latency {loop / thread:.3f}, this process's CPU {cpu:.3f}")
    print(f"answers: {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agencies", type=int, default=8)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--block", type=int, default=50, help="purchases per block")
    args = parser.parse_args()
    admin, url = bench_urls(BENCH_DB)
    os.environ["DATABASE_URL"] = plain(url)
    os.environ["MANDAT_RATE_LIMITS"] = "off"
    os.environ.setdefault("MANDAT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    new_database(admin, url, BENCH_DB)
    load = os.getloadavg()
    try:
        keys, offers = seed(url, args.agencies, args.leads)
        asyncio.run(measure(args, url, keys, offers))
    finally:
        from engine.db import get_engine

        get_engine().dispose()
        drop_database(admin, BENCH_DB)
    print(f"load average (1, 5, 15 min) at the start: {load}, at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
