"""The purchase service, before and after it became one database call (docs/adr/0004).

Drops and recreates the database `mandat_purchase_call_bench` on the server of DATABASE_URL
(else the project-local cluster), migrates it, loads the communes, seeds agencies and qualified
leads with the project's own code (benchmarks/harness.py) and a `buyer` key per agency. Then it
buys every lead once, exclusive, alternating blocks of purchases made by:

- `orm`: the purchase as it was before migration 0028 (the ORM unit of work, about twenty round
  trips), taken from the git history (`--baseline`, default the commit before the change) and
  run in a unit of work as `engine.sales.flows.buy_lead` ran it;
- `call`: `engine.sales.flows.buy_lead` as it is, one call to `buy_lead()` in autocommit.

Each block is run by one thread, then `--clients` threads buy half a block each at once (each
for its own agency, so no lock waits between them); blocks alternate so that the machine's noise
hits both sides.
Per side: purchases/s, median and p99 latency (ms) of the single-thread blocks, the CPU of this
process and of the bench database's backends per purchase (from /proc), and the round trips of
one purchase (libpq's trace of the connection: messages that wait for the server). Both sides
buy with an Idempotency-Key. The invariants of benchmarks/harness.py are checked at the end.
The ratios call/orm are the figures to quote: machines shared with other work make absolute
times noise.

Run: .venv/bin/python benchmarks/purchase_call.py [--agencies 8] [--leads 2600] [--block 80]
     [--rounds 4] [--clients 4] [--baseline <commit>] [--keep] [--reuse]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from time import perf_counter_ns
from types import ModuleType

import numpy as np
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import (  # noqa: E402
    INVARIANTS,
    add_agencies,
    bench_urls,
    drop_database,
    make_leads,
    new_database,
    percentiles,
    round_trips,
)
from engine.accounts.keys import Principal, create_key  # noqa: E402
from engine.db import get_engine, unit_of_work  # noqa: E402
from engine.sales.buy import PurchaseRequest  # noqa: E402

BENCH_DB = "mandat_purchase_call_bench"
RESULTS = ROOT / "benchmarks" / "results" / "purchase_call.json"
Buy = Callable[[Principal, PurchaseRequest], object]


def _module_at(
    commit: str, path: str, name: str, replace: tuple[str, str] | None = None
) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if replace is not None:
        source = source.replace(*replace)
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def baseline_module(commit: str) -> ModuleType:
    """The module that bought a lead as it was at `commit` (engine/sales/purchase.py then, buy.py
    now; with the offers module of then), importable beside today's."""
    _module_at(commit, "engine/sales/offers.py", "offers_orm")
    return _module_at(
        commit,
        "engine/sales/purchase.py",
        "purchase_orm",
        ("from engine.sales.offers import", "from offers_orm import"),
    )


def sides(commit: str) -> dict[str, Buy]:
    from engine.sales.flows import buy_lead

    orm = baseline_module(commit)

    def buy_orm(caller: Principal, request: PurchaseRequest) -> object:
        old = orm.PurchaseRequest(
            request.lead_id, request.mode, request.price_cents, request.idempotency_key
        )
        with unit_of_work() as session:
            return orm.purchase_lead(session, caller, old)

    return {"orm": buy_orm, "call": buy_lead}


def seed(
    url: str, agencies: int, leads: int
) -> tuple[list[Principal], list[tuple[uuid.UUID, int]]]:
    if leads:
        with unit_of_work(url) as session:
            add_agencies(session, agencies)
        make_leads(url, leads, np.random.default_rng(7))
    with unit_of_work(url) as session:
        ids = list(session.execute(text("SELECT id FROM agency ORDER BY id")).scalars())
        keys = [create_key(session, "buyer", a) for a in ids]
        offers = session.execute(
            text("SELECT lead_id, exclusive_price_cents FROM offer ORDER BY md5(lead_id::text)")
        ).all()
    callers = [Principal(k.id, "buyer", k.agency_id) for k in keys]
    return callers, [(o.lead_id, o.exclusive_price_cents) for o in offers]


def consented(url: str) -> dict[uuid.UUID, list[uuid.UUID]]:
    """For each agency, the leads it may buy."""
    with unit_of_work(url) as session:
        rows = session.execute(
            text("SELECT agency_id, lead_id FROM lead_consent WHERE withdrawn_at IS NULL")
        ).all()
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    for agency, lead in rows:
        found.setdefault(agency, []).append(lead)
    return found


def backend_ns(url: str) -> int:
    """CPU time (ns) of the bench database's backends so far, from /proc/<pid>/schedstat."""
    with unit_of_work(url) as session:
        pids = session.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        total = 0
        for pid in pids:
            try:
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
            except OSError:
                continue
    return total


def trips_of(buy: Buy, caller: Principal, request: PurchaseRequest) -> int:
    """The round trips of one purchase."""
    with round_trips() as counted:
        buy(caller, request)
    return counted[0]


def run(args: argparse.Namespace) -> dict[str, object]:
    admin, url = bench_urls(BENCH_DB)
    if not args.reuse:
        print("seeding", BENCH_DB, flush=True)
        new_database(admin, url, BENCH_DB)
    os.environ["DATABASE_URL"] = url.replace("postgresql+psycopg://", "postgresql://", 1)
    callers, offers = seed(url, args.agencies, 0 if args.reuse else args.leads)
    price = dict(offers)
    may_buy = consented(url)
    queues = {c.agency(): list(may_buy.get(c.agency(), [])) for c in callers}
    taken: set[uuid.UUID] = set()
    lock = threading.Lock()

    def next_lead(caller: Principal) -> uuid.UUID | None:
        with lock:
            queue = queues[caller.agency()]
            while queue:
                lead = queue.pop()
                if lead not in taken:
                    taken.add(lead)
                    return lead
        return None

    def request(lead: uuid.UUID) -> PurchaseRequest:
        return PurchaseRequest(lead, "exclusive", price[lead], f"bench-{lead}")

    buyers = sides(args.baseline)
    figures: dict[str, dict[str, list[float]]] = {
        side: {"ms": [], "wall_s": [], "n": [], "cpu_client_s": [], "cpu_pg_ns": [],
               "parallel_wall_s": [], "parallel_n": []}
        for side in buyers
    }  # fmt: skip
    trips = {}
    for side, buy in buyers.items():
        lead = next_lead(callers[0])
        assert lead is not None
        trips[side] = trips_of(buy, callers[0], request(lead))

    def block(side: str, caller: Principal, count: int, out: list[float]) -> int:
        done = 0
        for _ in range(count):
            lead = next_lead(caller)
            if lead is None:
                break
            started = perf_counter_ns()
            buyers[side](caller, request(lead))
            out.append((perf_counter_ns() - started) / 1e6)
            done += 1
        return done

    def parallel(side: str, first: int) -> int:
        counts = [0] * args.clients
        sink: list[float] = []

        def one(i: int) -> None:
            caller = callers[(first + i) % len(callers)]
            counts[i] = block(side, caller, max(1, args.block // 2), sink)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts)

    rounds = 0
    while rounds < args.rounds:
        for side in buyers:
            f = figures[side]
            caller = callers[rounds % len(callers)]
            cpu, ticks, wall = time.process_time(), backend_ns(url), time.perf_counter()
            n = block(side, caller, args.block, f["ms"])
            f["wall_s"].append(time.perf_counter() - wall)
            f["cpu_client_s"].append(time.process_time() - cpu)
            f["cpu_pg_ns"].append(backend_ns(url) - ticks)
            f["n"].append(n)
            # The same side with `clients` threads, each buying for its own agency.
            wall = time.perf_counter()
            done = parallel(side, rounds + 1)
            f["parallel_wall_s"].append(time.perf_counter() - wall)
            f["parallel_n"].append(done)
        rounds += 1

    result: dict[str, object] = {"round_trips": trips}
    for side, f in figures.items():
        n = int(sum(f["n"]))
        result[side] = {
            "purchases_single": n,
            "per_s_single": n / sum(f["wall_s"]),
            "latency_ms": percentiles(np.array(f["ms"][:n])),
            "cpu_ms_client_per_purchase": 1000 * sum(f["cpu_client_s"]) / n,
            "cpu_ms_postgres_per_purchase": sum(f["cpu_pg_ns"]) / 1e6 / n,
            "purchases_parallel": sum(f["parallel_n"]),
            "per_s_parallel": sum(f["parallel_n"]) / sum(f["parallel_wall_s"]),
        }
    orm, call = result["orm"], result["call"]
    assert isinstance(orm, dict)
    assert isinstance(call, dict)
    result["ratios_call_over_orm"] = {
        "per_s_single": call["per_s_single"] / orm["per_s_single"],
        "per_s_parallel": call["per_s_parallel"] / orm["per_s_parallel"],
        "median_latency": call["latency_ms"]["median"] / orm["latency_ms"]["median"],
        "cpu_client": call["cpu_ms_client_per_purchase"] / orm["cpu_ms_client_per_purchase"],
        "cpu_postgres": call["cpu_ms_postgres_per_purchase"] / orm["cpu_ms_postgres_per_purchase"],
    }
    with unit_of_work(url) as session:
        result["invariants"] = {
            name: session.execute(text(sql)).scalar_one() for name, sql in INVARIANTS.items()
        }
    get_engine().dispose()
    if not args.keep:
        drop_database(admin, BENCH_DB)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agencies", type=int, default=8)
    parser.add_argument("--leads", type=int, default=2600)
    parser.add_argument("--block", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--baseline", default=None, help="commit of the ORM purchase (default: the one before 0028)"
    )
    parser.add_argument("--keep", action="store_true", help=f"keep {BENCH_DB}")
    parser.add_argument(
        "--reuse", action="store_true", help=f"buy in {BENCH_DB} as kept, not bought from yet"
    )
    args = parser.parse_args()
    # The leads' private links are signed: this run's key.
    os.environ.setdefault("MANDAT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    if args.baseline is None:
        added = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%H", "--diff-filter=A", "--",
             "migrations/versions/0028_purchase_in_one_call.py"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        args.baseline = f"{added}~1"
    result = run(args)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))
    bad = {k: v for k, v in result["invariants"].items() if v}  # type: ignore[attr-defined]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
