"""Intake benchmark: both steps of the public estimation form over real HTTP, against a floor.

Drops and recreates the database `mandat_intake_bench` on the server of DATABASE_URL (else the
project-local cluster), migrates it, loads the communes and seeds it with the project's own demo
code: agencies spread like the population (`seed_agencies`) and synthetic property sales
imported by the real DVF importer (`seed_property_sales`), then VACUUM ANALYZE. With `--keep` a
bench database already seeded with the same sizes and seed is reused (its estimations and leads are
emptied) and kept afterwards.

It then starts `mandat serve --workers 2` as a subprocess on a free loopback port, with loopback
as the trusted proxy so that each simulated homeowner carries its own address in
`X-Forwarded-For` (neither the rate limits per client nor the limit of 10 leads per address and
hour apply; the overall buckets and the limiter's work do: `--limits off` measures without the
limiter, to compare), and drives it with
concurrent clients (one thread and one keep-alive `httpx.Client` each): the floor `GET /healthz`,
step 1 `POST /api/v1/estimations` at places drawn like the population (postal code + commune
name), and step 2 `POST /api/v1/estimations/{id}/lead` on estimations answered more than 3 s
earlier (the form's time trap would quarantine a faster submit), each with a unique e-mail,
mobile number and address. Every client runs a shuffled mix of the three kinds, so that the
floor sees the machine in the same state as the steps; a warm-up mix runs first, then the same
mix by one client alone (service times without queueing: step 1's median there is judged against
the floor's, target ≤ 2.5×). Afterwards the
leads are counted by status in the database: the figures are those of the real path only if
they are all `qualified`.

Machines are noisy: figures are medians, p90 and p99 (`perf_counter_ns` around each request, on
the client), ratios are taken against the floor of the same run; a note is printed when other
processes kept the CPUs busy just before the run, and when the floor itself is stalled by
delayed ACKs (see STALLED below). The table is printed and written to
benchmarks/results/intake.json; the server's log goes to benchmarks/results/intake-server.log.

Run: .venv/bin/python benchmarks/intake.py [--agencies 35000] [--property-sales 1000000]
     [--requests 2000] [--clients 8] [--warmup 200] [--alone 200]
     [--workers 2] [--keep] [--limits on|off] [--server mandat|granian]
`--server granian`: the same application under granian instead of `mandat serve` (uvicorn), for
comparison, when granian is installed in the virtualenv (not a dependency).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import math
import os
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import httpx
import numpy as np
from harness import (
    autocommit,
    bench_urls,
    drop_database,
    mark_seeded,
    new_database,
    of_server,
    plain,
    process_tree,
    seeded_with,
    server,
)
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.db import get_engine, unit_of_work
from engine.demo.property_sales import seed_property_sales
from engine.demo.seed import seed_agencies
from engine.migrate import upgrade

BENCH_DB = "mandat_intake_bench"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "intake.json"
SERVER_LOG = RESULTS.parent / "intake-server.log"
KINDS = ("floor", "step1", "step2")
LABELS = {
    "floor": "floor GET /healthz",
    "step1": "step 1 POST /estimations",
    "step2": "step 2 POST /estimations/{id}/lead",
    "pool": "step 1 only (the pool for step 2)",
}
TARGET = 10.0  # step 1 p99 / floor p99, with --clients
ALONE_TARGET = 2.5  # step 1 median / floor median, one client alone
TIME_TRAP_S = 3.5  # the form quarantines a step 2 sent less than 3 s after its step 1
SHOWN_ERRORS = 3  # bodies printed per kind
# A one-client floor this slow is no work of the server: on Linux, `uvicorn --workers N` (N > 1)
# binds the listening socket itself with proto 0, so asyncio leaves TCP_NODELAY off on accepted
# connections (uvicorn issue #3149) and each keep-alive response after the first waits for the
# client's delayed ACK (~40 ms) between its header and body writes. `--workers 1` is unaffected.
STALLED_FLOOR_MS = 30
STALLED = (
    "the floor with one client is {ms:.0f} ms: keep-alive responses are held back by Nagle's"
    " algorithm until the client's delayed ACK (~40 ms; uvicorn with --workers > 1 leaves"
    " TCP_NODELAY off, uvicorn issue #3149), so every figure includes that stall"
    " (compare with --workers 1)"
)
LIMITS = {"on": "", "off": "off"}  # MANDAT_RATE_LIMITS: the default sizes, or no limiter
BUSY = 0.10  # share of the CPUs others use before the run, past which the figures are noisy


@dataclass(frozen=True)
class Job:
    kind: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    expect: int = 201


@dataclass
class Outcome:
    """What one client thread saw: per request its kind, nanoseconds, status."""

    kinds: list[str] = field(default_factory=list)
    ns: list[int] = field(default_factory=list)
    status: list[int] = field(default_factory=list)  # 0: transport error
    errors: list[tuple[str, int, str]] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)  # step 1 bodies, when asked for
    start: int = 0
    end: int = 0


# --- the database ---------------------------------------------------------------------------


def marker(args: argparse.Namespace) -> str:
    """What the bench database was seeded with, kept as its comment (for `--keep`)."""
    return f"intake bench: agencies={args.agencies} sales={args.property_sales} seed={args.seed}"


def prepare(admin: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """A bench database seeded as asked: reused with `--keep` when it already is, else new."""
    if args.keep and seeded_with(admin, BENCH_DB) == marker(args):
        print(f"reusing {BENCH_DB} ({marker(args)}): emptying estimations and leads", flush=True)
        upgrade(url)
        with unit_of_work(url) as session:
            session.execute(text("TRUNCATE lead_consent, lead, estimation CASCADE"))
        autocommit(url, "VACUUM ANALYZE lead_consent, lead, estimation")
        return {"reused": True}
    print(f"creating {BENCH_DB}: migrations, communes", flush=True)
    print(" ", new_database(admin, url, BENCH_DB), flush=True)
    figures: dict[str, Any] = {"reused": False}
    print(f"seeding {args.agencies:,} agencies", flush=True)
    start = perf_counter_ns()
    with unit_of_work(url) as session:
        seed_agencies(session, args.agencies, seed=args.seed)
    figures["agencies_s"] = (perf_counter_ns() - start) / 1e9
    print(
        f"  {figures['agencies_s']:.1f} s; seeding {args.property_sales:,} property sales",
        flush=True,
    )
    start = perf_counter_ns()
    with unit_of_work(url) as session:
        report = seed_property_sales(session, args.property_sales, seed=args.seed)
    figures["sales_s"] = (perf_counter_ns() - start) / 1e9
    figures["sales_report"] = str(report)
    print(f"  {figures['sales_s']:.1f} s: {report}; VACUUM ANALYZE", flush=True)
    start = perf_counter_ns()
    autocommit(url, "VACUUM ANALYZE")
    figures["analyze_s"] = (perf_counter_ns() - start) / 1e9
    mark_seeded(admin, BENCH_DB, marker(args))
    return figures


def database_facts(url: str) -> dict[str, Any]:
    with Session(get_engine(url)) as session:
        row = session.execute(
            text("""SELECT current_setting('server_version') AS pg, postgis_lib_version() AS gis,
                           pg_database_size(current_database()) AS size,
                           (SELECT count(*) FROM agency) AS agencies,
                           (SELECT count(*) FROM comparable_sale) AS sales""")
        ).one()
    return {
        "postgresql": row.pg,
        "postgis": row.gis,
        "database_mb": row.size / 2**20,
        "agencies": row.agencies,
        "comparable_sales": row.sales,
    }


def draw_places(url: str, count: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(postal code, commune name) pairs drawn like the population. A commune served by several
    postal codes shares its population among them, so each commune is drawn like its people."""
    with Session(get_engine(url)) as session:
        rows = session.execute(
            text("""SELECT p.postal_code, c.name, c.population,
                           count(*) OVER (PARTITION BY c.code) AS codes
                    FROM postal_code p JOIN commune c ON c.code = p.commune_code
                    WHERE c.population > 0 ORDER BY p.postal_code, c.code""")
        ).all()
    weights = np.array([r.population / r.codes for r in rows], dtype=float)
    picks = rng.choice(len(rows), size=count, p=weights / weights.sum())
    return [(rows[i].postal_code, rows[i].name) for i in picks.tolist()]


def lead_statuses(url: str) -> list[dict[str, Any]]:
    with Session(get_engine(url)) as session:
        rows = session.execute(
            text("""SELECT status, quarantine_reasons::text AS reasons, count(*) AS n
                    FROM lead GROUP BY 1, 2 ORDER BY 3 DESC""")
        ).all()
    return [{"status": r.status, "reasons": json.loads(r.reasons), "leads": r.n} for r in rows]


# --- the server -----------------------------------------------------------------------------


def memory_mb(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of one process, MiB."""
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return fields


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """Per process: (command, user + system clock ticks), from /proc (Linux)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        name, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()
        found[int(stat.parent.name)] = (name, int(rest[11]) + int(rest[12]))
    return found


def cpu_busy(seconds: float = 3.0) -> tuple[float, list[tuple[str, float]]]:
    """Share of all CPUs' time not idle over `seconds`, and the busiest processes (command,
    share of one CPU): others' load, measured while this process sleeps."""

    def totals() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]  # all, idle + iowait

    (total0, idle0), before = totals(), cpu_ticks()
    time.sleep(seconds)
    (total1, idle1), after = totals(), cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    busiest = sorted(
        ((name, (ticks - before.get(pid, (name, ticks))[1]) / hz / seconds)
         for pid, (name, ticks) in after.items()),
        key=lambda item: -item[1],
    )  # fmt: skip
    return 1 - (idle1 - idle0) / max(total1 - total0, 1), [b for b in busiest[:3] if b[1] > 0.02]


# --- the clients ----------------------------------------------------------------------------


def run(base: str, schedules: list[list[Job]], keep_answers: bool = False) -> list[Outcome]:
    """Each schedule on its own thread and keep-alive connection, all released at once."""
    outcomes = [Outcome() for _ in schedules]
    barrier = threading.Barrier(len(schedules))

    def client(schedule: list[Job], out: Outcome) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            http.get("/healthz")  # the connection is opened before the clock starts
            barrier.wait()
            out.start = perf_counter_ns()
            for job in schedule:
                status, body, response = 0, "", None
                t0 = perf_counter_ns()
                try:
                    response = http.request(
                        job.method, job.path, json=job.body, headers=job.headers
                    )
                    status = response.status_code
                except httpx.HTTPError as error:
                    body = repr(error)
                elapsed = perf_counter_ns() - t0
                out.kinds.append(job.kind)
                out.ns.append(elapsed)
                out.status.append(status)
                if status != job.expect:
                    body = body or (response.text[:500] if response is not None else "")
                    out.errors.append((job.kind, status, body))
                elif keep_answers and response is not None:
                    out.answers.append(response.json())
            out.end = perf_counter_ns()

    threads = [
        threading.Thread(target=client, args=(s, o), daemon=True)
        for s, o in zip(schedules, outcomes, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def deal(jobs: list[Job], clients: int) -> list[list[Job]]:
    return [jobs[i::clients] for i in range(clients)]


_homeowners = itertools.count(1 << 20)


def step1(place: tuple[str, str], rng: np.random.Generator) -> Job:
    """A homeowner of their own address (the rate limits count each one apart)."""
    n = next(_homeowners)
    body = {
        "property": {
            "type": "appartement" if rng.random() < 0.5 else "maison",
            "surface_m2": int(rng.integers(20, 201)),
            "rooms": int(rng.integers(1, 8)),
        },
        "address": {"postal_code": place[0], "city": place[1]},
        "source": "bench",
    }
    ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    return Job("step1", "POST", "/api/v1/estimations", body, {"X-Forwarded-For": ip})


def step2(n: int, estimation_id: str, agency_id: str, consent_version: str) -> Job:
    """The n-th homeowner: unique e-mail, mobile and address (10.x.y.z)."""
    body = {
        "contact": {
            "first_name": "Bench",
            "last_name": "Client",
            "email": f"bench{n}@exemple.fr",
            "phone": f"+3361{n:07d}",
        },
        "project": {"timeline": "asap", "is_owner": True},
        "consent": {"agency_ids": [agency_id], "text_version": consent_version},
        "website": "",
    }
    ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    path = f"/api/v1/estimations/{estimation_id}/lead"
    return Job("step2", "POST", path, body, {"X-Forwarded-For": ip})


FLOOR = Job("floor", "GET", "/healthz", expect=200)


def pool(
    base: str, places: list[tuple[str, str]], rng: np.random.Generator, clients: int, want: int
) -> tuple[list[tuple[str, str]], list[Outcome], int]:
    """Estimations that name an agency: (estimation id, first agency id), at least `want` of
    them; the runs of step 1 that made them; how many named none."""
    usable: list[tuple[str, str]] = []
    outcomes: list[Outcome] = []
    none = 0
    while len(usable) < want:
        if not places:
            raise RuntimeError(f"only {len(usable)} estimations named an agency")
        batch = max(clients, math.ceil((want - len(usable)) * 1.05))
        jobs, places = [step1(p, rng) for p in places[:batch]], places[batch:]
        done = run(base, deal(jobs, clients), keep_answers=True)
        outcomes += done
        for answer in (a for o in done for a in o.answers):
            if answer["agencies"]:
                usable.append((answer["id"], answer["agencies"][0]["id"]))
            else:
                none += 1
    return usable[:want], outcomes, none


def mix(
    count: int, places: list[tuple[str, str]], leads: list[Job], rng: np.random.Generator
) -> list[Job]:
    """`count` requests of each kind, shuffled."""
    jobs = [FLOOR] * count + [step1(p, rng) for p in places[:count]] + leads[:count]
    order = rng.permutation(len(jobs))
    return [jobs[i] for i in order.tolist()]


def figures(outcomes: list[Outcome], kind: str) -> dict[str, Any]:
    """Count, latency percentiles (successful requests), requests/s over the run's wall time."""
    ns: list[int] = []
    errors = 0
    for o in outcomes:
        for k, t, s in zip(o.kinds, o.ns, o.status, strict=True):
            if k == kind:
                ok = s == (200 if kind == "floor" else 201)
                errors += not ok
                if ok:
                    ns.append(t)
    wall_s = (max(o.end for o in outcomes) - min(o.start for o in outcomes)) / 1e9
    ms = np.array(ns, dtype=float) / 1e6
    empty = not len(ms)
    return {
        "count": len(ns) + errors,
        "errors": errors,
        "median_ms": None if empty else float(np.median(ms)),
        "p90_ms": None if empty else float(np.percentile(ms, 90)),
        "p99_ms": None if empty else float(np.percentile(ms, 99)),
        "max_ms": None if empty else float(ms.max()),
        "requests_s": (len(ns) + errors) / wall_s,
        "wall_s": wall_s,
    }


def show_errors(outcomes: list[Outcome], phase: str) -> None:
    shown: dict[str, int] = {}
    for kind, status, body in (e for o in outcomes for e in o.errors):
        shown[kind] = shown.get(kind, 0) + 1
        if shown[kind] <= SHOWN_ERRORS:
            print(f"  {phase} {kind} error {status}: {body}", flush=True)
    for kind, n in shown.items():
        print(f"  {phase} {kind}: {n} error(s) in all", flush=True)


def measure(base: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The pool for step 2, the time trap, the warm-up, one client alone (service times without
    queueing), the measured mix of `--clients`."""
    rng = np.random.default_rng(args.seed + 1)
    phases = (args.warmup, args.alone, args.requests)
    need = sum(phases)  # estimations for step 2, each used once
    places = draw_places(url, need + 5000 + sum(phases), rng)
    for_pool, for_mix = places[: need + 5000], places[need + 5000 :]
    version = httpx.get(f"{base}/api/v1/consent-text", timeout=10).json()["version"]
    print(f"step 1 × ≥{need:,}: estimations for step 2", flush=True)
    made, pool_runs, none = pool(base, for_pool, rng, args.clients, need)
    show_errors(pool_runs, "pool")
    leads = [step2(n + 1, e, a, version) for n, (e, a) in enumerate(made)]
    time.sleep(TIME_TRAP_S)
    outcomes = []
    for name, count, clients in (
        ("warm-up", args.warmup, args.clients),
        ("one client alone", args.alone, 1),
        ("measured", args.requests, args.clients),
    ):
        print(f"{name}: {count:,} of each kind, {clients} client(s)", flush=True)
        done = run(base, deal(mix(count, for_mix, leads, rng), clients)) if count else []
        show_errors(done, name)
        outcomes.append(done)
        for_mix, leads = for_mix[count:], leads[count:]
    _, alone, timed = outcomes
    pool_figures = figures(pool_runs[: args.clients], "step1")  # its first (largest) round
    pool_figures |= {"estimations_naming_no_agency": none}
    return {
        "kinds": {k: figures(timed, k) for k in KINDS},
        "one_client": {k: figures(alone, k) for k in KINDS} if alone else None,
        "pool": pool_figures,
        "consent_text_version": version,
    }


# --- the report -----------------------------------------------------------------------------


def ratio(kinds: dict[str, Any], kind: str, at: str = "p99_ms") -> float | None:
    top, floor = kinds[kind][at], kinds["floor"][at]
    return None if top is None or not floor else float(top / floor)


def table(result: dict[str, Any]) -> None:
    head = (
        f"{'':44}{'count':>8}{'median':>9}{'p90':>9}{'p99':>9}{'max':>9}{'req/s':>9}{'errors':>8}"
    )
    print("\n" + head + "\n" + f"{'':44}{'':8}{'ms':>9}{'ms':>9}{'ms':>9}{'ms':>9}")
    alone = result["one_client"] or {}
    rows = [
        *((LABELS[k], result["kinds"][k]) for k in KINDS),
        *((f"{LABELS[k]}, 1 client", alone[k]) for k in alone),
        (LABELS["pool"], result["pool"]),
    ]
    for label, f in rows:
        cells = (
            f"{f[k]:>9.2f}" if f[k] is not None else f"{'-':>9}"
            for k in ("median_ms", "p90_ms", "p99_ms", "max_ms")
        )
        print(f"{label:44}{f['count']:>8,}{''.join(cells)}{f['requests_s']:>9.1f}{f['errors']:>8,}")
    r1, r2 = (
        result["ratios"]["step1_p99_over_floor_p99"],
        result["ratios"]["step2_p99_over_floor_p99"],
    )
    verdict = "HOLDS" if r1 is not None and r1 <= TARGET else "MISSED"
    print(f"\nstep 1 p99 / floor p99: {r1:.2f}× (target ≤ {TARGET:g}×: {verdict})")
    print(f"step 2 p99 / floor p99: {r2:.2f}×")
    if alone:
        median = result["ratios"]["step1_median_over_floor_median_one_client"]
        verdict = "HOLDS" if median is not None and median <= ALONE_TARGET else "MISSED"
        print(
            f"1 client: step 1 median / floor median {median:.2f}×"
            f" (target ≤ {ALONE_TARGET:g}×: {verdict}), "
            f"step 1 p99 / floor p99 {ratio(alone, 'step1'):.2f}×, "
            f"step 2 p99 / floor p99 {ratio(alone, 'step2'):.2f}×"
        )
    if result.get("note"):
        print(f"NOTE: {result['note']}")
    kinds = result["kinds"]
    total = sum(kinds[k]["count"] for k in KINDS) / kinds["floor"]["wall_s"]
    print(f"all kinds together: {total:,.1f} requests/s over {kinds['floor']['wall_s']:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agencies", type=int, default=35_000)
    parser.add_argument(
        "--property-sales",
        "--sales",
        type=int,
        default=1_000_000,
        help="synthetic property sales generated (--sales: the former name)",
    )
    parser.add_argument("--requests", type=int, default=2000, help="timed requests of each kind")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests of each kind")
    parser.add_argument(
        "--alone", type=int, default=200, help="requests of each kind by one client (0: none)"
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--server", default="mandat", choices=("mandat", "granian"),
        help="mandat serve (uvicorn, as deployed) or the same application under granian",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="reuse and keep the seeded database")
    parser.add_argument(
        "--limits", choices=("on", "off"), default="on", help="the rate limiter (api.limits)"
    )
    args = parser.parse_args()
    admin, url = bench_urls(BENCH_DB)
    # Whatever the engine reads from the environment is the bench database from now on.
    os.environ["DATABASE_URL"] = plain(url)
    # Leads are mailed a signed link: a throw-away key for this run.
    os.environ.setdefault("MANDAT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    load: dict[str, Any] = {"start": os.getloadavg()}
    try:
        seeding = prepare(admin, url, args)
        facts = database_facts(url)
        print(
            f"{facts['agencies']:,} agencies, {facts['comparable_sales']:,} comparable sales, "
            f"{facts['database_mb']:,.0f} MiB; starting the server",
            flush=True,
        )
        busy, busiest = cpu_busy()
        with server(
            plain(url),
            args.workers,
            of_server(SERVER_LOG, args.server),
            {"MANDAT_TRUSTED_PROXIES": "127.0.0.1", "MANDAT_RATE_LIMITS": LIMITS[args.limits]},
            kind=args.server,
        ) as (base, process):
            load["before_run"] = os.getloadavg()
            result = measure(base, url, args)
            load["end"] = os.getloadavg()
            server_memory = {pid: memory_mb(pid) for pid in process_tree(process.pid)}
        result["leads_by_status"] = lead_statuses(url)
    finally:
        get_engine(url).dispose()
        if not args.keep:
            drop_database(admin, BENCH_DB)
    kinds = result["kinds"]
    result["ratios"] = {
        "step1_p99_over_floor_p99": ratio(kinds, "step1"),
        "step2_p99_over_floor_p99": ratio(kinds, "step2"),
        "target": TARGET,
        "step1_median_over_floor_median_one_client": (
            ratio(result["one_client"], "step1", "median_ms") if result["one_client"] else None
        ),
        "one_client_target": ALONE_TARGET,
    }
    alone_floor = (result["one_client"] or {}).get("floor", {}).get("median_ms")
    if alone_floor is not None and alone_floor >= STALLED_FLOOR_MS:
        result["note"] = STALLED.format(ms=alone_floor)
    if busy >= BUSY:
        result["busy"] = (
            f"other processes kept {busy:.0%} of the CPUs busy just before the server started"
            f" ({', '.join(f'{n} {c:.0%}' for n, c in busiest) or 'short-lived ones'}):"
            " the figures are noisy"
        )
    result["ratios"]["target_holds"] = (
        result["ratios"]["step1_p99_over_floor_p99"] or 1e9
    ) <= TARGET
    machine = {
        "cpus": os.cpu_count(),
        "server_workers": args.workers,
        "rate_limits": args.limits,
        "clients": args.clients,
        "postgresql": facts["postgresql"],
        "postgis": facts["postgis"],
        "load_average": load,
        "cpu_busy_before_run": {"share": busy, "busiest": busiest},
        "bench_process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "server_processes_mb": list(server_memory.values()),
    }
    table(result)
    print("\nleads by status:", ", ".join(
        f"{r['status']} {r['leads']:,}" + (f" {r['reasons']}" if r["reasons"] else "")
        for r in result["leads_by_status"]
    ))  # fmt: skip
    print(
        f"machine: {machine['cpus']} CPUs, PostgreSQL {facts['postgresql']}, "
        f"PostGIS {facts['postgis']}, {args.workers} server workers, {args.clients} clients"
    )
    print(
        f"data: {facts['agencies']:,} agencies, {facts['comparable_sales']:,} comparable sales, "
        f"database {facts['database_mb']:,.0f} MiB"
    )
    if seeding["reused"]:
        print("seeding: reused (--keep)")
    else:
        print(
            f"seeding: agencies {seeding['agencies_s']:.1f} s, sales {seeding['sales_s']:.1f} s "
            f"({seeding['sales_report']}), VACUUM ANALYZE {seeding['analyze_s']:.1f} s"
        )
    rss = ", ".join(
        f"{m.get('VmRSS', 0):.0f} (peak {m.get('VmHWM', 0):.0f})" for m in server_memory.values()
    )
    print(f"memory MiB: server processes {rss}; "
          f"this process peak {machine['bench_process_peak_rss_mb']:.0f}")  # fmt: skip
    print(f"rate limiter: {args.limits}; load average (1, 5, 15 min): {load}")
    if result.get("busy"):
        print(f"NOTE: {result['busy']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in vars(args).items() if k != "keep"}
    document = {
        "config": config,
        "machine": machine,
        "data": facts,
        "seeding": seeding,
        **result,
    }
    written = of_server(RESULTS, args.server)
    written.write_text(json.dumps(document, indent=2, default=float) + "\n")
    print(f"written to {written}")


if __name__ == "__main__":
    main()
