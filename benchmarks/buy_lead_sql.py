"""The purchase's call inside PostgreSQL: `buy_lead(...)` under an earlier schema and under today's.

Seeds the database `mandat_buy_lead_sql_bench` on the server of DATABASE_URL (else the
project-local cluster) with agencies and qualified leads made by the project's own code
(benchmarks/harness.py), half of the offers moved past their exclusive window, and a `buyer` key
per agency. It is kept as a template: each run copies it twice, migrates one copy down to
`--baseline` (default: the migration before the newest) and leaves the other at the code's head,
then buys the same purchases, in the same order, in both: each lead still exclusive bought by one
agency (it sells out), each shared lead by its consenting agencies up to its cap (the last one
sells it out), with an Idempotency-Key, as the route does (the same SQL, one statement in
autocommit on one connection per round and side).

Rounds alternate the two sides (and which goes first), so the machine's noise hits both. Per
side: the CPU of the connection's own backend per call (from /proc/<pid>/schedstat, and
/proc/<pid>/stat utime + stime as a cross-check, both read around each block), the median wall
time of a call, and the ratios new ÷ old of each round, whose medians are the figures to quote.
Afterwards the sale invariants of benchmarks/harness.py are checked in both copies, and the
indexes each insert maintained that nothing read (pg_stat_user_indexes) are listed.

`--connections 1,2,4,8,16` measures instead what buying at once costs, with the schema at head:
for each count N in turn, a fresh copy of the seeded database and N processes, each with its
own connection, buying `--calls` purchases between them (the leads dealt out so that no two
connections touch one lead: no row lock is awaited), all starting together. It reports the
backends' CPU per call (schedstat) and the calls a second for each N.

Run: .venv/bin/python benchmarks/buy_lead_sql.py [--agencies 12] [--leads 600] [--block 50]
     [--rounds 6] [--baseline 0039] [--idempotency-keys] [--reuse] [--keep]
     [--connections 1,2,4,8,16 --calls 600]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import (  # noqa: E402
    INVARIANTS,
    add_agencies,
    autocommit,
    bench_urls,
    drop_database,
    make_leads,
    mark_seeded,
    new_database,
    plain,
    seeded_with,
    share_half_the_offers,
)
from engine.accounts.keys import create_key  # noqa: E402
from engine.db import get_engine, unit_of_work  # noqa: E402
from engine.migrate import downgrade, head_revision, upgrade  # noqa: E402
from engine.sales.buy import _BUY  # noqa: E402

BENCH_DB = "mandat_buy_lead_sql_bench"
RESULTS = ROOT / "benchmarks" / "results" / "buy_lead_sql.json"
TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")
WARM_UP = 6  # calls per connection before the timing: its plans prepared


@dataclass(frozen=True)
class Purchase:
    key: uuid.UUID
    agency: uuid.UUID
    lead: uuid.UUID
    mode: str
    price: int


def seed(admin: str, url: str, agencies: int, leads: int) -> None:
    print("seeding", BENCH_DB, flush=True)
    new_database(admin, url, BENCH_DB)
    with unit_of_work(url) as session:
        add_agencies(session, agencies)
    make_leads(url, leads, np.random.default_rng(11))
    share_half_the_offers(url)
    with unit_of_work(url) as session:
        for agency in session.execute(text("SELECT id FROM agency ORDER BY id")).scalars():
            create_key(session, "buyer", agency)
    get_engine(url).dispose()
    mark_seeded(admin, BENCH_DB, f"agencies={agencies} leads={leads}")


def plan(url: str) -> list[Purchase]:
    """Every purchase the seeded market allows, exclusive and shared interleaved."""
    with psycopg.connect(plain(url)) as conn:
        rows = conn.execute("""
            SELECT k.id, c.agency_id, o.lead_id,
                   CASE WHEN o.exclusive_until > now() THEN 'exclusive' ELSE 'shared' END,
                   CASE WHEN o.exclusive_until > now() THEN o.exclusive_price_cents
                        ELSE o.shared_price_cents END,
                   row_number() OVER (PARTITION BY o.lead_id ORDER BY c.agency_id), o.shared_cap
            FROM offer o
            JOIN lead_consent c ON c.lead_id = o.lead_id AND c.withdrawn_at IS NULL
            JOIN api_key k ON k.agency_id = c.agency_id
            ORDER BY md5(o.lead_id::text), c.agency_id
        """).fetchall()
    exclusive, shared = [], []
    for key, agency, lead, mode, price, nth, cap in rows:
        if mode == "exclusive" and nth == 1:
            exclusive.append(Purchase(key, agency, lead, mode, price))
        elif mode == "shared" and nth <= cap:
            shared.append(Purchase(key, agency, lead, mode, price))
    mixed = [p for pair in zip(exclusive, shared, strict=False) for p in pair]
    return mixed + exclusive[len(shared) :] + shared[len(exclusive) :]


def backend_ns(pid: int) -> tuple[int, int]:
    """(CPU ns from schedstat, CPU ns from stat's utime + stime) of process `pid`."""
    sched = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sched, int((int(fields[11]) + int(fields[12])) * TICK_NS)


def buy(conn: psycopg.Connection[Any], p: Purchase, keys: bool) -> None:
    """One purchase, the SQL the route sends (with an Idempotency-Key when `keys`)."""
    key = f"bench-{p.lead}-{p.agency}" if keys else None
    params = (p.key, None, "buyer", p.agency, p.lead, p.mode, p.price,
              key, "0" * 64 if keys else None)  # fmt: skip
    body, replayed = conn.execute(_BUY, params).fetchone()  # type: ignore[misc]
    assert not replayed
    assert body.startswith("{")


def copy_of(admin: str, name: str) -> str:
    """A fresh copy of the seeded database, named `name`: its URL."""
    autocommit(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    autocommit(admin, f'CREATE DATABASE "{name}" TEMPLATE "{BENCH_DB}"')
    return bench_urls(name)[1]


def block(url: str, purchases: list[Purchase], keys: bool) -> dict[str, float]:
    """`purchases` bought on one connection (its first three as a warm-up, not counted)."""
    with psycopg.connect(plain(url), autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]

        def call(p: Purchase) -> None:
            buy(conn, p, keys)

        for p in purchases[:3]:
            call(p)
        walls = []
        sched, ticks = backend_ns(pid)
        for p in purchases[3:]:
            started = time.perf_counter_ns()
            call(p)
            walls.append((time.perf_counter_ns() - started) / 1e6)
        sched_after, ticks_after = backend_ns(pid)
    n = len(walls)
    return {
        "n": n,
        "cpu_ms": (sched_after - sched) / 1e6 / n,
        "cpu_ms_stat": (ticks_after - ticks) / 1e6 / n,
        "wall_ms_median": float(np.median(walls)),
    }


def buyer(url: str, purchases: list[Purchase], start: Any, out: Any) -> None:
    """One connection's share of `at_once`: a warm-up of six calls, then the rest, timed."""
    with psycopg.connect(plain(url), autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        for n, p in enumerate(purchases):
            if n == WARM_UP:
                start.wait()
                sched, _ = backend_ns(pid)
                started = time.perf_counter()
            buy(conn, p, keys=False)
        out.put((len(purchases) - WARM_UP, backend_ns(pid)[0] - sched,
                 time.perf_counter() - started))  # fmt: skip


def at_once(admin: str, count: int, calls: int) -> dict[str, float]:
    """`calls` purchases bought on `count` connections at once, in a fresh copy."""
    name = f"{BENCH_DB}_at_once"
    url = copy_of(admin, name)
    by_lead: dict[uuid.UUID, list[Purchase]] = {}
    for p in plan(url):
        by_lead.setdefault(p.lead, []).append(p)
    shares: list[list[Purchase]] = [[] for _ in range(count)]
    for n, bought in enumerate(by_lead.values()):
        shares[n % count].extend(bought)
    start, out = multiprocessing.Barrier(count), multiprocessing.Queue()
    each = calls // count + WARM_UP
    buyers = [
        multiprocessing.Process(target=buyer, args=(url, share[:each], start, out))
        for share in shares
    ]
    for b in buyers:
        b.start()
    done = [out.get() for _ in buyers]
    for b in buyers:
        b.join()
    drop_database(admin, name)
    made = sum(d[0] for d in done)
    return {
        "connections": count,
        "calls": made,
        "backend_cpu_ms_per_call": sum(d[1] for d in done) / 1e6 / made,
        "calls_per_s": made / max(d[2] for d in done),
    }


def unread_indexes(url: str) -> list[str]:
    with psycopg.connect(plain(url)) as conn:
        rows = conn.execute("""
            SELECT relname || '.' || indexrelname FROM pg_stat_user_indexes
            WHERE idx_scan = 0 AND relname IN ('purchase', 'ledger_line', 'audit_log', 'outbox',
                  'offer', 'idempotency_key', 'catalogue_entry', 'agency_month_spend')
            ORDER BY 1
        """).fetchall()
    return [r[0] for r in rows]


def invariants(url: str) -> dict[str, int]:
    with psycopg.connect(plain(url)) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in INVARIANTS.items()}  # type: ignore[index]


def seeded(args: argparse.Namespace) -> tuple[str, str]:
    """(maintenance URL, the seeded database's URL): seeded now unless `--reuse` finds it so."""
    admin, url = bench_urls(BENCH_DB)
    wanted = f"agencies={args.agencies} leads={args.leads}"
    if not (args.reuse and seeded_with(admin, BENCH_DB) == wanted):
        seed(admin, url, args.agencies, args.leads)
    return admin, url


def run(args: argparse.Namespace) -> dict[str, object]:
    admin, url = seeded(args)
    purchases = plan(url)
    sides = {"old": f"{BENCH_DB}_old", "new": f"{BENCH_DB}_new"}
    urls = {side: copy_of(admin, name) for side, name in sides.items()}
    downgrade(urls["old"], args.baseline)
    upgrade(urls["new"])
    per_round = args.block + 3
    rounds = min(args.rounds, len(purchases) // per_round)
    print(f"{len(purchases)} purchases planned: {rounds} rounds of {args.block}", flush=True)
    figures: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for r in range(rounds):
        chunk = purchases[r * per_round : (r + 1) * per_round]
        for side in ("old", "new") if r % 2 == 0 else ("new", "old"):
            figures[side].append(block(urls[side], chunk, args.idempotency_keys))
        print(f"round {r + 1}: old {figures['old'][-1]}  new {figures['new'][-1]}", flush=True)

    def med(side: str, field: str) -> float:
        return median(f[field] for f in figures[side])

    def ratio(field: str) -> float:
        return median(
            n[field] / o[field] for o, n in zip(figures["old"], figures["new"], strict=True)
        )

    result: dict[str, object] = {
        "baseline": args.baseline,
        "idempotency_keys": args.idempotency_keys,
        "head": head_revision(),
        "rounds": figures,
        "median": {s: {f: med(s, f) for f in ("cpu_ms", "cpu_ms_stat", "wall_ms_median")}
                   for s in figures},
        "ratio_new_over_old": {f: ratio(f) for f in ("cpu_ms", "cpu_ms_stat", "wall_ms_median")},
        "invariants": {side: invariants(u) for side, u in urls.items()},
        "unread_indexes": {side: unread_indexes(u) for side, u in urls.items()},
    }  # fmt: skip
    if not args.keep:
        for name in sides.values():
            drop_database(admin, name)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agencies", type=int, default=12)
    parser.add_argument("--leads", type=int, default=600)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--baseline", default=None, help="the old side's migration")
    parser.add_argument("--idempotency-keys", action="store_true", help="one per purchase")
    parser.add_argument("--reuse", action="store_true", help=f"reuse {BENCH_DB} if so seeded")
    parser.add_argument("--keep", action="store_true", help="keep the two copies")
    parser.add_argument("--connections", help="buy at once on each count in turn: 1,2,4,8,16")
    parser.add_argument("--calls", type=int, default=600, help="purchases per count")
    args = parser.parse_args()
    # The leads' private links are signed: this run's key.
    os.environ.setdefault("MANDAT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    if args.connections:
        sweep(args)
        return
    if args.baseline is None:
        head = head_revision()
        assert head is not None
        args.baseline = f"{int(head) - 1:04d}"
    result = run(args)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    summary = {k: result[k] for k in ("median", "ratio_new_over_old", "invariants")}
    print(json.dumps(summary, indent=2, default=str))
    print("indexes no query read:", json.dumps(result["unread_indexes"], indent=2))
    bad = [v for side in result["invariants"].values() for v in side.values() if v]  # type: ignore[attr-defined]
    sys.exit(1 if bad else 0)


def sweep(args: argparse.Namespace) -> None:
    admin, _ = seeded(args)
    figures = []
    for count in (int(n) for n in args.connections.split(",")):
        figures.append(at_once(admin, count, args.calls))
        f = figures[-1]
        print(f"{count:3d} connections: {f['calls']} calls, "
              f"{f['backend_cpu_ms_per_call']:.3f} ms of backend CPU a call, "
              f"{f['calls_per_s']:,.0f} calls/s", flush=True)  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.with_name("buy_lead_sql-at-once.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
