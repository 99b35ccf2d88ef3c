"""Purchase benchmark: lead purchases over real HTTP by concurrent buyers, next to pgbench.

Drops and recreates the database `mandat_purchase_bench` (`--database`) on the server of
DATABASE_URL (else the project-local cluster), migrates it and loads the communes. It seeds
agencies in four cities (the default 40 make ten per city, 190 m apart: every lead of a city
names all of them) and makes qualified leads with the project's own intake code
(`request_estimate`, then `submit_lead` with an estimation aged past the form's time trap, a
unique e-mail, mobile number and address each, consent to every named agency). Half of the
offers are moved past their exclusive window, so both modes are bought. Each buyer agency gets
a `buyer` key (`create_key`). With `--keep` a bench database seeded with the same sizes less
than 20 hours ago is reused (its purchases are undone) and kept afterwards.

It then starts `mandat serve` (2 workers) on a free loopback port. Each buyer, acting for its own
agency, reads its catalogue (`GET /api/v1/leads?limit=200`, every page, before the clock
starts) and shuffles it; buyers of a city race for the same leads: 409s are lost races, any
other status is an error. The phase ends after `--seconds` or when a buyer has walked its whole
catalogue. Throughput is 201s per second of wall time. The buyers are driven by one of two
clients (`--client`):

- `wrk` (the default; Debian's compiled load generator, `apt-get install wrk`), so that the
  client does not eat the machine: one wrk thread and one keep-alive connection per buyer, the
  buyer's plan (its key, then its shuffled leads with the mode and price of the catalogue)
  written to a file that `benchmarks/purchase.lua` reads at start. Each request is a
  `POST /api/v1/leads/{id}/purchase` (no offer read first); the Lua script counts the statuses
  and keeps each answer's latency, and prints them as JSON at the end. Latencies are measured in
  wrk's threads (write of the request to read of the answer); wrk's own histogram (which wrk
  corrects for coordinated omission) is reported beside them.
- `python` (the earlier client, for comparison): one thread and one keep-alive `httpx.Client`
  per buyer; for each lead it reads the offer (`GET /api/v1/leads/{id}`, timed apart; a lead
  sold out meanwhile is skipped; `--no-read` buys at the catalogue's price instead) and buys it
  at the mode and price read (`POST /api/v1/leads/{id}/purchase`, timed with `perf_counter_ns`).
  Its client threads take a large share of the machine's CPU.

Then pgbench runs on the same database (`pgbench -i -s 10`, then the built-in TPC-B-like script
with as many clients as buyers, `-j 2 -M prepared`), once briefly before the HTTP phase and once
after it; the ratio is purchases/s over the tps of the run after. Its tables are dropped at the
end. The CPU time of each party (the client: wrk or this process; the server's processes, the
bench database's backends, PostgreSQL's background processes, kernel threads, everything else)
is sampled from /proc during each phase, to show where the time goes; a phase in which other
processes took more than 5 % of the CPUs is flagged. Finally the purchases are checked in SQL:
no oversell, no double purchase, counters and ledger in step; any violation or error status
exits 1.

Machines are noisy: each timed phase waits (60 s at most) for the CPUs to be mostly idle and
records how busy they were; latencies are medians and p99, per-second rates are given as
medians next to the whole-run rates, and the ratio is taken against pgbench of the same run.
The table is printed and written to benchmarks/results/purchase.json (purchase-python.json with
`--client python`); the server's log goes to benchmarks/results/purchase-server.log. The
figures that judge the purchase path: purchases/s ÷ pgbench tps (target ≥ 0.25), the CPU per
purchase of the server and the bench database's backends (goal ≤ 1.5 ms), 0 oversell.

Run: .venv/bin/python benchmarks/purchase.py [--client wrk|python] [--agencies 40]
     [--leads 3000] [--clients 16] [--seconds 30] [--workers 2] [--pgbench-seconds 30]
     [--pgbench-before 10] [--scale 10] [--idempotency-keys] [--no-read] [--keep]
     [--database mandat_purchase_bench] [--server mandat|granian]
`--server granian` serves the same application under granian instead of `mandat serve`
(uvicorn), for comparison, when granian is installed in the virtualenv (not a dependency).
With `--client wrk` (the default) the script stops at once, saying so, if `wrk` is not
installed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import httpx
import numpy as np
from harness import (
    INVARIANTS,
    add_agencies,
    autocommit,
    bench_urls,
    busy_share,
    drop_database,
    machine_ticks,
    make_leads,
    mark_seeded,
    new_database,
    of_server,
    percentiles,
    plain,
    process_tree,
    seeded_with,
    server,
    share_half_the_offers,
    summary,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from engine.accounts.keys import create_key
from engine.db import get_engine, unit_of_work
from engine.migrate import upgrade
from mandat import cluster

BENCH_DB = "mandat_purchase_bench"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "purchase.json"
PYTHON_RESULTS = RESULTS.with_name("purchase-python.json")
LUA = Path(__file__).resolve().parent / "purchase.lua"
WRK_MARGIN_S = 120  # wrk's own -d past --seconds: time for the last answers to come
WRK_MISSING = "wrk is not installed: apt-get install wrk (or run with --client python)"
SERVER_LOG = RESULTS.parent / "purchase-server.log"
OPEN_PHASES = ("offered_exclusive", "offered_shared")
PGBENCH_TABLES = "pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers"
TARGET = 0.25  # purchases/s over pgbench tps
CPU_GOAL_MS = 1.5  # CPU per purchase, server + the bench database's backends
SERVER_AND_DB = ("server", "postgres backends (bench db)")
SHOWN_ERRORS = 5
DISTURBED = 0.05  # share of the CPUs taken by other processes past which a phase is flagged


# --- the database ---------------------------------------------------------------------------


def use_database(name: str) -> None:
    """The bench database's name (`--database`): its backends are told apart by it."""
    global BENCH_DB
    BENCH_DB = name


def marker(args: argparse.Namespace) -> str:
    """What the bench database was seeded with, kept as its comment (for `--keep`)."""
    return f"purchase bench: agencies={args.agencies} leads={args.leads} seed={args.seed}"


def reusable(admin: str, url: str, args: argparse.Namespace) -> bool:
    """Seeded with the same sizes, recently enough that no exclusive window has ended."""
    if seeded_with(admin, BENCH_DB) != marker(args):
        return False
    with Session(get_engine(url)) as session:
        oldest = session.execute(
            text("SELECT min(created_at) > now() - interval '20 hours' FROM lead")
        ).scalar_one()
    return bool(oldest)


def prepare(admin: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """A bench database seeded as asked: reused with `--keep` when it can be, else new."""
    if args.keep and reusable(admin, url, args):
        print(f"reusing {BENCH_DB} ({marker(args)}): undoing its purchases", flush=True)
        upgrade(url)
        with unit_of_work(url) as session:
            # CASCADE: whatever refers to a purchase (billing's document lines) goes too.
            session.execute(text("TRUNCATE ledger_line, purchase, idempotency_key CASCADE"))
            # The audit log is append-only and the outbox keyed by purchase: both stay.
            session.execute(text("UPDATE offer SET exclusive_buyer = NULL, shared_buyers = 0"))
        autocommit(url, "VACUUM ANALYZE")
        return {"reused": True}
    print(f"creating {BENCH_DB}: migrations, communes", flush=True)
    print(" ", new_database(admin, url, BENCH_DB), flush=True)
    figures: dict[str, Any] = {"reused": False}
    with unit_of_work(url) as session:
        add_agencies(session, args.agencies)
    print(f"seeding {args.leads:,} leads through request_estimate + submit_lead", flush=True)
    start = perf_counter_ns()
    make_leads(url, args.leads, np.random.default_rng(args.seed))
    figures["leads_s"] = (perf_counter_ns() - start) / 1e9
    figures["shared_offers"] = share_half_the_offers(url)
    autocommit(url, "VACUUM ANALYZE")
    mark_seeded(admin, BENCH_DB, marker(args))
    print(f"  {figures['leads_s']:.1f} s; {figures['shared_offers']:,} offers shared", flush=True)
    return figures


def buyer_keys(url: str, clients: int) -> list[Buyer]:
    """`clients` agencies, the cities taken in turn, each with a new `buyer` key."""
    with unit_of_work(url) as session:
        rows = session.execute(
            text("""SELECT id, split_part(name, ' ', 3) AS city,
                           row_number() OVER (PARTITION BY split_part(name, ' ', 3)
                                              ORDER BY siret) AS n
                    FROM agency ORDER BY n, city""")
        ).all()
        if len(rows) < clients:
            raise RuntimeError(f"{clients} buyers need as many agencies: --agencies {clients}")
        return [
            Buyer(r.id, create_key(session, "buyer", r.id, "purchase bench").key, r.city)
            for r in rows[:clients]
        ]


def database_facts(url: str) -> dict[str, Any]:
    with Session(get_engine(url)) as session:
        row = session.execute(
            text("""SELECT current_setting('server_version') AS pg,
                           current_setting('synchronous_commit') AS sync,
                           current_setting('shared_buffers') AS buffers,
                           (SELECT count(*) FROM agency) AS agencies,
                           (SELECT count(*) FROM lead WHERE status = 'qualified') AS leads,
                           (SELECT count(*) FROM offer
                            WHERE exclusive_until <= now()) AS shared_offers,
                           (SELECT count(*) FROM lead_consent) AS consents""")
        ).one()
    return {
        "postgresql": row.pg,
        "synchronous_commit": row.sync,
        "shared_buffers": row.buffers,
        "agencies": row.agencies,
        "qualified_leads": row.leads,
        "shared_offers": row.shared_offers,
        "consents": row.consents,
    }


# --- CPU accounting from /proc (Linux) ------------------------------------------------------


def snapshot() -> dict[int, tuple[str, int]]:
    """Per process: (title, user + system clock ticks). PostgreSQL's titles name the database;
    a process without a command line (a kernel thread, a zombie) is titled `[its name]`."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
            title = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, UnicodeDecodeError):
            continue
        rest = raw[raw.rindex(")") + 2 :].split()
        title = title or f"[{raw[raw.index('(') + 1 : raw.rindex(')')]}]"
        found[int(stat.parent.name)] = (title, int(rest[11]) + int(rest[12]))
    return found


class CpuWatch:
    """CPU seconds per party over a phase, sampled twice a second so that processes that end
    during the phase (pgbench's backends) are counted up to their last sample."""

    def __init__(self, groups: dict[str, set[int]], busy_before: float) -> None:
        self.busy_before = busy_before  # share of the CPUs busy just before the phase
        self.groups = groups  # name → pids; refreshed by the caller as processes come and go
        self.first: dict[int, int] = {}
        self.last: dict[int, tuple[str, int]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuWatch:
        self.first = {pid: ticks for pid, (_, ticks) in snapshot().items()}
        self.machine = machine_ticks()
        self.started = time.monotonic()
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            self._sample()

    def _sample(self) -> None:
        # A process that has just ended (a zombie) has no command line: keep the one seen.
        for pid, (title, ticks) in snapshot().items():
            seen = self.last.get(pid, ("[", 0))[0]
            self.last[pid] = (seen if title.startswith("[") and seen != "[" else title, ticks)

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()
        self.seconds = time.monotonic() - self.started
        self.busy = busy_share(self.machine, machine_ticks())

    def parties(self) -> dict[str, float]:
        """CPU seconds used during the phase by each party."""
        used: dict[str, float] = {}
        for party, _, seconds in self._used():
            used[party] = used.get(party, 0.0) + seconds
        return used

    def others(self, count: int = 3) -> list[tuple[str, float]]:
        """The busiest processes counted as `others` (title, CPU seconds)."""
        found = sorted((-s, t[:80]) for party, t, s in self._used() if party == "others")
        return [(title, -s) for s, title in found[:count]]

    def _used(self) -> Iterator[tuple[str, str, float]]:
        hz = os.sysconf("SC_CLK_TCK")
        for pid, (title, ticks) in self.last.items():
            delta = (ticks - self.first.get(pid, 0)) / hz
            if delta > 0:
                yield self._party(pid, title), title, delta

    def _party(self, pid: int, title: str) -> str:
        for name, pids in self.groups.items():
            if pid in pids:
                return name
        if title.startswith("postgres:"):
            if f" {BENCH_DB} " in f"{title} ":
                return "postgres backends (bench db)"
            words = title.split()
            if len(words) >= 3 and words[2].startswith("mandat"):
                return "others"  # a backend of another database
            return "postgres background"
        if title.startswith("/usr/lib/postgresql/"):
            return "postgres background"  # the postmaster
        if title.startswith("["):
            return "kernel threads"  # block I/O, memory: work done for everyone
        return "others"


def settle(limit_s: float = 60.0, quiet: float = 0.25) -> float:
    """Waits (at most `limit_s`) until the CPUs are mostly idle; the busy share last seen."""
    deadline, told = time.monotonic() + limit_s, False
    while True:
        before = machine_ticks()
        time.sleep(2)
        after = machine_ticks()
        busy = busy_share(before, after)
        if busy < quiet or time.monotonic() > deadline:
            return busy
        if not told:
            print(f"  waiting (≤ {limit_s:.0f} s) for a quieter machine: CPUs {busy:.0%} busy")
            told = True


# --- the server -----------------------------------------------------------------------------


# --- the buyers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Buyer:
    agency_id: uuid.UUID
    key: str
    city: str


@dataclass
class Tally:
    """One buyer's answers. Times in ns; `done` is relative to the start of the phase."""

    catalogue: list[dict[str, Any]] = field(default_factory=list)
    catalogue_ns: list[int] = field(default_factory=list)
    read_ns: list[int] = field(default_factory=list)
    post: list[tuple[int, int, int, str]] = field(default_factory=list)  # status, ns, done, code
    skipped: int = 0  # sold out (or bought by us) when read: not attempted
    errors: list[str] = field(default_factory=list)
    walked_all: bool = False


def read_catalogue(client: httpx.Client, tally: Tally) -> None:
    """Every page of the agency's catalogue."""
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        start = perf_counter_ns()
        answer = client.get("/api/v1/leads", params=params)
        tally.catalogue_ns.append(perf_counter_ns() - start)
        answer.raise_for_status()
        page = answer.json()
        tally.catalogue.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return


def buy(
    client: httpx.Client,
    tally: Tally,
    rng: np.random.Generator,
    go: threading.Barrier,
    clock: list[int],
    halt: threading.Event,
    args: argparse.Namespace,
) -> None:
    """Walk the shuffled catalogue: read each offer, buy it at the mode and price read."""
    leads = [tally.catalogue[i] for i in rng.permutation(len(tally.catalogue))]
    go.wait()
    origin = clock[0]  # set before the release
    for item in leads:
        if halt.is_set():
            return
        offer = item
        if not args.no_read:
            start = perf_counter_ns()
            answer = client.get(f"/api/v1/leads/{item['id']}")
            tally.read_ns.append(perf_counter_ns() - start)
            if answer.status_code != 200:
                tally.errors.append(f"GET {answer.status_code} {answer.text[:300]}")
                continue
            offer = answer.json()
            if offer["phase"] not in OPEN_PHASES or offer["purchased"]:
                tally.skipped += 1
                continue
        headers = {"Idempotency-Key": uuid.uuid4().hex} if args.idempotency_keys else None
        body = {"mode": offer["mode"], "price_cents": offer["price_cents"]}
        start = perf_counter_ns()
        answer = client.post(f"/api/v1/leads/{item['id']}/purchase", json=body, headers=headers)
        end = perf_counter_ns()
        code = ""
        if answer.status_code != 201:
            try:
                code = str(answer.json().get("code", ""))
            except ValueError:
                code = "?"
        if answer.status_code not in (201, 409):
            tally.errors.append(f"POST {answer.status_code} {answer.text[:300]}")
        tally.post.append((answer.status_code, end - start, end - origin, code))
    tally.walked_all = True
    halt.set()  # the phase ends when a buyer has no lead left: all buyers run until the end


def buyer_clients(base: str, buyers: list[Buyer]) -> list[httpx.Client]:
    """One keep-alive client per buyer, with its key."""
    return [
        httpx.Client(
            base_url=base,
            headers={"Authorization": f"Bearer {b.key}"},
            timeout=60,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for b in buyers
    ]


def read_catalogues(clients: list[httpx.Client]) -> list[Tally]:
    """Each buyer's whole catalogue, read at once by all of them (before the clock starts)."""
    tallies = [Tally() for _ in clients]
    readers = [
        threading.Thread(target=read_catalogue, args=(c, t))
        for c, t in zip(clients, tallies, strict=True)
    ]
    for r in readers:
        r.start()
    for r in readers:
        r.join()
    walked = sum(len(t.catalogue) for t in tallies)
    print(f"  catalogues read: {walked:,} offers over {len(clients)} buyers", flush=True)
    return tallies


def purchases_phase(
    base: str, server_pid: int, buyers: list[Buyer], args: argparse.Namespace
) -> tuple[list[Tally], float, CpuWatch]:
    """(tallies, wall seconds, CPU watch) of the buyers' run with the Python client."""
    clients = buyer_clients(base, buyers)
    try:
        tallies = read_catalogues(clients)
        busy = settle()
        print(f"  CPUs {busy:.0%} busy before the phase", flush=True)
        go, clock, halt = threading.Barrier(len(buyers) + 1), [0], threading.Event()
        seeds = np.random.SeedSequence(args.seed).spawn(len(buyers))
        threads = [
            threading.Thread(
                target=buy,
                args=(c, t, np.random.default_rng(s), go, clock, halt, args),
                daemon=True,
            )
            for c, t, s in zip(clients, tallies, seeds, strict=True)
        ]
        for t in threads:
            t.start()
        groups = {"client (this process)": {os.getpid()}, "server": set(process_tree(server_pid))}
        with CpuWatch(groups, busy) as cpu:
            clock[0] = perf_counter_ns()
            go.wait()
            halt.wait(args.seconds)
            halt.set()
            for t in threads:
                t.join()
            wall = (perf_counter_ns() - clock[0]) / 1e9
            groups["server"] |= set(process_tree(server_pid))
    finally:
        for c in clients:
            c.close()
    return tallies, wall, cpu


# --- the buyers, driven by wrk --------------------------------------------------------------


def wrk_bin() -> str:
    found = shutil.which("wrk")
    if not found:
        sys.exit(WRK_MISSING)
    return found


def write_plans(folder: Path, buyers: list[Buyer], tallies: list[Tally], seed: int) -> None:
    """`<n>.plan` per buyer (n from 1, wrk's thread number): its key, then its catalogue in the
    order the Python client would walk it, as `<lead id> <mode> <price_cents>` lines."""
    seeds = np.random.SeedSequence(seed).spawn(len(buyers))
    for n, (buyer, tally, s) in enumerate(zip(buyers, tallies, seeds, strict=True), start=1):
        order = np.random.default_rng(s).permutation(len(tally.catalogue))
        leads = [tally.catalogue[i] for i in order]
        lines = [buyer.key, *(f"{o['id']} {o['mode']} {o['price_cents']}" for o in leads)]
        (folder / f"{n}.plan").write_text("\n".join(lines) + "\n")


def wrk_phase(
    base: str, server_pid: int, buyers: list[Buyer], args: argparse.Namespace
) -> dict[str, Any]:
    """The buyers' run with wrk (one thread and connection per buyer, benchmarks/purchase.lua):
    the figures of `purchase_figures`, from the answers the Lua script kept."""
    clients = buyer_clients(base, buyers)
    try:
        tallies = read_catalogues(clients)
    finally:
        for c in clients:
            c.close()
    with tempfile.TemporaryDirectory(prefix="purchase-wrk-") as name:
        folder = Path(name)
        write_plans(folder, buyers, tallies, args.seed)
        busy = settle()
        print(f"  CPUs {busy:.0%} busy before the phase", flush=True)
        n = str(len(buyers))
        # The Lua script ends the run after the answers past the deadline; wrk's own -d is only
        # a backstop (it would leave requests unanswered, their purchases uncounted).
        command = [wrk_bin(), "-t", n, "-c", n, "-d", f"{args.seconds + WRK_MARGIN_S}s",
                   "--timeout", "60s", "-s", str(LUA), base]  # fmt: skip
        env = {
            **os.environ,
            "PURCHASE_PLAN": str(folder),
            "PURCHASE_IDEMPOTENCY": uuid.uuid4().hex if args.idempotency_keys else "",
        }
        groups = {"client (this process)": {os.getpid()}, "server": set(process_tree(server_pid))}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with (folder / "wrk.out").open("w") as out, CpuWatch(groups, busy) as cpu:
            deadline_us = time.monotonic_ns() // 1000 + args.seconds * 1_000_000
            env["PURCHASE_DEADLINE_US"] = str(deadline_us)  # CLOCK_MONOTONIC, as in the script
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            groups["client (wrk)"] = {process.pid}  # counted from its rusage below
            told = 0.0
            while process.poll() is None:
                stopped = len(list(folder.glob("stopped-*")))
                if stopped == len(buyers) and time.monotonic() - told > 1:
                    process.send_signal(signal.SIGINT)  # every thread has stopped: report
                    told = time.monotonic()
                time.sleep(0.05)
            groups["server"] |= set(process_tree(server_pid))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        output = (folder / "wrk.out").read_text()
    found = re.search(r"^PURCHASE_RESULT (.*)$", output, re.MULTILINE)
    if process.returncode or found is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output[-3000:]}")
    parties = cpu.parties()
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    parties["client (wrk)"] = used
    return wrk_figures(json.loads(found.group(1)), tallies, cpu, parties)


# --- pgbench --------------------------------------------------------------------------------


def pgbench_bin() -> str:
    path = Path(f"/usr/lib/postgresql/{cluster.major_version()}/bin/pgbench")
    if path.exists():
        return str(path)
    found = shutil.which("pgbench")
    if not found:
        raise RuntimeError("pgbench not found: it comes with the PostgreSQL server packages")
    return found


def pgbench(url: str, args_: list[str], log: Path | None = None) -> subprocess.Popen[str]:
    """pgbench on the bench database, with the URL's host, port, user and password."""
    parsed = make_url(url)
    env = {**os.environ, "PGPASSWORD": parsed.password or ""}
    host = parsed.host or parsed.query.get("host") or "127.0.0.1"
    port = parsed.port or parsed.query.get("port") or 5432
    connection = ["-h", str(host), "-p", str(port)]
    command = [pgbench_bin(), *connection, "-U", parsed.username or "postgres", *args_]
    return subprocess.Popen(
        [*command, parsed.database or BENCH_DB],
        env=env,
        cwd=log,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def pgbench_init(url: str, scale: int) -> float:
    start = perf_counter_ns()
    process = pgbench(url, ["-i", "-s", str(scale), "-q"])
    out, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"pgbench -i failed:\n{out}\n{err}")
    autocommit(url, "VACUUM ANALYZE pgbench_accounts, pgbench_branches, pgbench_tellers")
    return (perf_counter_ns() - start) / 1e9


def pgbench_run(url: str, clients: int, seconds: int) -> dict[str, Any]:
    """The built-in TPC-B-like script: tps, per-second tps, latencies from its per-transaction
    log, and the CPU of each party."""
    busy = settle()
    print(f"  CPUs {busy:.0%} busy before pgbench", flush=True)
    with tempfile.TemporaryDirectory(prefix="purchase-pgbench-") as folder:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        groups: dict[str, set[int]] = {"client (this process)": {os.getpid()}}
        with CpuWatch(groups, busy) as cpu:
            process = pgbench(
                url,
                ["-c", str(clients), "-j", "2", "-T", str(seconds), "-M", "prepared", "-P", "1",
                 "-l", "--log-prefix", "pgbench_log"],
                log=Path(folder),
            )  # fmt: skip
            groups["pgbench"] = {process.pid}  # counted from its rusage below
            out, err = process.communicate()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if process.returncode:
            raise RuntimeError(f"pgbench failed:\n{out}\n{err}")
        latencies = np.concatenate(
            [
                np.loadtxt(p, usecols=2, dtype=np.int64, ndmin=1)
                for p in Path(folder).glob("pgbench_log*")
            ]
        )
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if tps is None:
        raise RuntimeError(f"no tps in pgbench's output:\n{out}")
    per_second = [float(x) for x in re.findall(r"progress: [\d.]+ s, ([\d.]+) tps", err)]
    parties = cpu.parties()
    parties["pgbench"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "seconds": seconds,
        "clients": clients,
        "tps": float(tps.group(1)),
        "transactions": len(latencies),
        "failed": int(failed.group(1)) if failed else 0,
        "tps_per_second": summary(np.array(per_second)) if per_second else None,
        "latency_ms": percentiles(latencies / 1e3),
        "cpu": cpu_figures(parties, cpu, len(latencies)),
    }


# --- figures --------------------------------------------------------------------------------


def cpu_figures(parties: dict[str, float], cpu: CpuWatch, done: int) -> dict[str, Any]:
    """CPU seconds per party, and per unit of work (ms): where the time goes."""
    return {
        "wall_s": cpu.seconds,
        "cpus": os.cpu_count(),
        "machine_busy_before": cpu.busy_before,
        "machine_busy": cpu.busy,
        "seconds": parties,
        "ms_per_unit": {k: v * 1e3 / max(done, 1) for k, v in parties.items()},
        "busiest_others": cpu.others(),
        # Share of all CPUs that other processes took: the figures are disturbed above ~5 %.
        "others_share": parties.get("others", 0) / (cpu.seconds * (os.cpu_count() or 1)),
    }


def purchase_figures(tallies: list[Tally], wall: float, cpu: CpuWatch) -> dict[str, Any]:
    posts = [p for t in tallies for p in t.post]
    statuses = Counter(p[0] for p in posts)
    bought = statuses.get(201, 0)
    done = np.array([p[2] for p in posts if p[0] == 201], dtype=np.int64)
    full = int(wall)  # per-second rates over the whole seconds only
    per_second = np.bincount(done // 1_000_000_000, minlength=full)[:full] if full else None

    def post_ms(keep: Any) -> dict[str, float] | None:
        return percentiles(np.array([p[1] for p in posts if keep(p[0])], dtype=float) / 1e6)

    reads = np.array([n for t in tallies for n in t.read_ns], dtype=float) / 1e6
    pages = np.array([n for t in tallies for n in t.catalogue_ns], dtype=float) / 1e6
    return {
        "client": "python",
        "buyers": len(tallies),
        "wall_s": wall,
        "ended_by": "leads" if any(t.walked_all for t in tallies) else "time",
        "catalogue_offers": sum(len(t.catalogue) for t in tallies),
        "catalogue_pages_ms": percentiles(pages),
        "attempts": len(posts),
        "purchases": bought,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "conflict_codes": dict(Counter(p[3] for p in posts if p[0] == 409)),
        "errors": sum(len(t.errors) for t in tallies),
        "error_samples": [e for t in tallies for e in t.errors][:SHOWN_ERRORS],
        "skipped_sold_out_when_read": sum(t.skipped for t in tallies),
        "reads": len(reads),
        "purchases_s": bought / wall,
        "attempts_s": len(posts) / wall,
        "requests_s": (len(posts) + len(reads)) / wall,
        "purchases_per_second": summary(per_second) if per_second is not None else None,
        "post_ms": post_ms(lambda s: True),
        "post_201_ms": post_ms(lambda s: s == 201),
        "post_409_ms": post_ms(lambda s: s == 409),
        "read_ms": percentiles(reads),
        "cpu": cpu_figures(cpu.parties(), cpu, bought),
    }


def wrk_figures(
    found: dict[str, Any], tallies: list[Tally], cpu: CpuWatch, parties: dict[str, float]
) -> dict[str, Any]:
    """The keys of `purchase_figures`, from what benchmarks/purchase.lua printed. The wall time
    runs from the first request written to the last answer read."""
    threads = found["threads"]
    status = np.array([s for t in threads for s in t["status"]], dtype=np.int64)
    latency = np.array([n for t in threads for n in t["latency_us"]], dtype=np.int64)
    ended = np.array([n for t in threads for n in t["end_us"]], dtype=np.int64)
    origin = int((ended - latency).min()) if len(ended) else 0
    wall = (int(ended.max()) - origin) / 1e6 if len(ended) else found["duration_us"] / 1e6
    statuses = Counter(int(s) for s in status)
    bought = statuses.get(201, 0)
    full = int(wall)
    done = (ended[status == 201] - origin) // 1_000_000
    per_second = np.bincount(done, minlength=full)[:full] if full else None
    sockets = found["socket_errors"]
    unexpected = sum(n for s, n in statuses.items() if s not in (201, 409))
    codes: Counter[str] = Counter()
    for t in threads:
        codes.update(t["codes"])
    pages = np.array([n for t in tallies for n in t.catalogue_ns], dtype=float) / 1e6
    histogram = found["wrk_latency_us"]
    return {
        "client": "wrk",
        "buyers": len(threads),
        "wall_s": wall,
        "wrk_duration_s": found["duration_us"] / 1e6,
        "ended_by": "leads" if any(t["walked"] for t in threads) else "time",
        "catalogue_offers": sum(len(t.catalogue) for t in tallies),
        "catalogue_pages_ms": percentiles(pages),
        "attempts": len(status),
        "purchases": bought,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "conflict_codes": dict(codes),
        "socket_errors": sockets,
        "errors": unexpected + sum(sockets.values()),
        "error_samples": [e for t in threads for e in t["samples"]][:SHOWN_ERRORS],
        "skipped_sold_out_when_read": 0,
        "reads": 0,
        "purchases_s": bought / wall,
        "attempts_s": len(status) / wall,
        "requests_s": len(status) / wall,
        "purchases_per_second": summary(per_second) if per_second is not None else None,
        "post_ms": percentiles(latency / 1e3),
        "post_201_ms": percentiles(latency[status == 201] / 1e3),
        "post_409_ms": percentiles(latency[status == 409] / 1e3),
        "post_wrk_histogram_ms": {k: v / 1e3 for k, v in histogram.items()},
        "read_ms": None,
        "cpu": cpu_figures(parties, cpu, bought),
    }


# --- after the run --------------------------------------------------------------------------


def check(url: str, answered_201: int) -> dict[str, int]:
    """Violations per invariant (all must be 0), and the 201s against the purchase rows."""
    with Session(get_engine(url)) as session:
        found = {name: session.execute(text(sql)).scalar_one() for name, sql in INVARIANTS.items()}
        rows = session.execute(text("SELECT count(*) FROM purchase")).scalar_one()
    found["201 answers minus purchase rows"] = abs(answered_201 - rows)
    return found


# --- output ---------------------------------------------------------------------------------


def ms(figures: dict[str, float] | None) -> str:
    if not figures:
        return "-"
    return f"{figures['median']:.1f} / {figures['p99']:.1f}"


def table(result: dict[str, Any]) -> None:
    p, after, before = result["purchases"], result["pgbench_after"], result["pgbench_before"]
    ratio = result["ratio"]
    rows: list[tuple[str, str]] = [
        ("client", p["client"]),
        ("buyers (threads), wall s, ended by",
         f"{p['buyers']}, {p['wall_s']:.1f}, {p['ended_by']}"),
        ("purchases (201)", f"{p['purchases']:,}"),
        ("attempts (POST), statuses", f"{p['attempts']:,}  {p['statuses']}"),
        ("lost races (409) by code", str(p["conflict_codes"] or "{}")),
        ("errors (other statuses, must be 0)", str(p["errors"])),
        ("leads skipped (sold out when read)", f"{p['skipped_sold_out_when_read']:,}"),
        ("purchases/s", f"{p['purchases_s']:,.1f}"),
        ("purchases/s per second: median (min-max)",
         "-" if not p["purchases_per_second"] else
         "{median:,.0f} ({min:,.0f}-{max:,.0f})".format(**p["purchases_per_second"])),
        ("attempts/s (POST)", f"{p['attempts_s']:,.1f}"),
        ("HTTP requests/s (POST + GET offer)", f"{p['requests_s']:,.1f}"),
        ("POST purchase ms med / p99 (all)", ms(p["post_ms"])),
        ("POST purchase ms med / p99 (201)", ms(p["post_201_ms"])),
        ("POST purchase ms med / p99 (409)", ms(p["post_409_ms"])),
        *((("POST purchase ms med / p99 (wrk's histogram, corrected)",
            f"{p['post_wrk_histogram_ms']['p50']:.1f} / {p['post_wrk_histogram_ms']['p99']:.1f}"),)
          if "post_wrk_histogram_ms" in p else ()),
        ("GET offer ms med / p99", ms(p["read_ms"])),
        ("GET catalogue page (200) ms med / p99", ms(p["catalogue_pages_ms"])),
        *((f"pgbench {name} tps ({r['clients']} clients, {r['seconds']} s)",
           f"{r['tps']:,.1f}  per s: median {r['tps_per_second']['median']:,.0f}")
          for name, r in (("before", before), ("after", after)) if r),
        *((f"pgbench {name} latency ms med / p99", ms(r["latency_ms"]))
          for name, r in (("before", before), ("after", after)) if r),
        (f"purchases/s / pgbench tps after (≥ {TARGET})",
         f"{ratio['after']:.3f} {'met' if ratio['after'] >= TARGET else 'MISSED'}"),
        *((("purchases/s / pgbench tps before", f"{ratio['before']:.3f}"),)
          if ratio.get("before") else ()),
        (f"CPU ms per purchase: server + PostgreSQL backends (goal ≤ {CPU_GOAL_MS})",
         f"{result['cpu_per_purchase_ms']:.2f} "
         f"{'met' if result['cpu_per_purchase_ms'] <= CPU_GOAL_MS else 'MISSED'}"),
        ("CPUs busy just before: purchases / pgbench after",
         f"{p['cpu']['machine_busy_before']:.0%} / {after['cpu']['machine_busy_before']:.0%}"),
        ("CPUs busy during: purchases / pgbench after",
         f"{p['cpu']['machine_busy']:.0%} / {after['cpu']['machine_busy']:.0%}"),
        *((f"CPU ms per purchase: {k}", f"{v:.2f}")
          for k, v in sorted(p["cpu"]["ms_per_unit"].items(), key=lambda kv: -kv[1])),
        *((f"CPU ms per pgbench transaction: {k}", f"{v:.3f}")
          for k, v in sorted(after["cpu"]["ms_per_unit"].items(), key=lambda kv: -kv[1])),
        *((f"check: {k}", str(v)) for k, v in result["invariants"].items()),
    ]  # fmt: skip
    print()
    for label, value in rows:
        print(f"{label:66}{value:>36}")
    phases = (("purchases", p), ("pgbench before", before), ("pgbench after", after))
    for name, figures in phases:
        if figures and figures["cpu"]["others_share"] > DISTURBED:
            print(f"WARNING: other processes took {figures['cpu']['others_share']:.0%} of the CPUs "
                  f"during {name}: its figures are disturbed")  # fmt: skip
    for sample in p["error_samples"]:
        print(f"  error: {sample}")
    m = result["machine"]
    print(f"machine: {m['cpus']} CPUs ({m['cpu_model']}), PostgreSQL {m['postgresql']},\n"
          f"  synchronous_commit {m['synchronous_commit']}, shared_buffers {m['shared_buffers']}; "
          f"load average at start {m['load_average']['start']}, at end "
          f"{m['load_average']['end']}")  # fmt: skip


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk",
        help="the buyers' HTTP client: wrk (compiled) or Python threads",
    )
    parser.add_argument("--agencies", type=int, default=40, help="agencies, over 4 cities")
    parser.add_argument("--leads", type=int, default=3000, help="qualified leads to sell")
    parser.add_argument("--clients", type=int, default=16, help="concurrent buyers")
    parser.add_argument("--seconds", type=int, default=30, help="length of the purchase phase")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--server", default="mandat", choices=("mandat", "granian"),
        help="mandat serve (uvicorn, as deployed) or the same application under granian",
    )  # fmt: skip
    parser.add_argument("--pgbench-seconds", type=int, default=30, help="pgbench after")
    parser.add_argument("--pgbench-before", type=int, default=10, help="pgbench before, 0: none")
    parser.add_argument("--scale", type=int, default=10, help="pgbench -i scale factor")
    parser.add_argument("--idempotency-keys", action="store_true", help="send Idempotency-Key")
    parser.add_argument("--no-read", action="store_true", help="buy at the catalogue's price")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument("--database", default=BENCH_DB, help="the bench database's name")
    args = parser.parse_args()
    if args.client == "wrk":
        wrk_bin()  # stops here, saying why, if wrk is missing
        args.no_read = True  # wrk buys at the catalogue's mode and price
    use_database(args.database)
    # The keys this process issues and the server that checks them share this run's master key.
    os.environ.setdefault("MANDAT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    admin, url = bench_urls(BENCH_DB)
    load = {"start": [round(x, 2) for x in os.getloadavg()]}
    result: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "keep"}}
    try:
        result["seeding"] = prepare(admin, url, args)
        buyers = buyer_keys(url, args.clients)
        facts = database_facts(url)
        result["database"] = facts
        print(f"pgbench -i -s {args.scale} into {BENCH_DB}", flush=True)
        result["pgbench_init_s"] = pgbench_init(url, args.scale)
        result["pgbench_before"] = None
        if args.pgbench_before:
            print(f"pgbench before: {args.pgbench_before} s", flush=True)
            result["pgbench_before"] = pgbench_run(url, args.clients, args.pgbench_before)
        print(f"serving with {args.workers} workers; {args.clients} buyers", flush=True)
        log = of_server(SERVER_LOG, args.server)
        with server(plain(url), args.workers, log, kind=args.server) as (base, process):
            if args.client == "wrk":
                result["purchases"] = wrk_phase(base, process.pid, buyers, args)
            else:
                tallies, wall, cpu = purchases_phase(base, process.pid, buyers, args)
                result["purchases"] = purchase_figures(tallies, wall, cpu)
        print(f"pgbench after: {args.pgbench_seconds} s", flush=True)
        result["pgbench_after"] = pgbench_run(url, args.clients, args.pgbench_seconds)
        result["invariants"] = check(url, result["purchases"]["purchases"])
    finally:
        autocommit(url, f"DROP TABLE IF EXISTS {PGBENCH_TABLES}")
        get_engine(url).dispose()
        if not args.keep:
            drop_database(admin, BENCH_DB)
    load["end"] = [round(x, 2) for x in os.getloadavg()]
    rate = result["purchases"]["purchases_s"]
    result["ratio"] = {
        "after": rate / result["pgbench_after"]["tps"],
        "before": rate / result["pgbench_before"]["tps"] if result["pgbench_before"] else None,
        "target": TARGET,
    }
    per_unit = result["purchases"]["cpu"]["ms_per_unit"]
    result["cpu_per_purchase_ms"] = sum(per_unit.get(party, 0.0) for party in SERVER_AND_DB)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "postgresql": facts["postgresql"],
        "synchronous_commit": facts["synchronous_commit"],
        "shared_buffers": facts["shared_buffers"],
        "load_average": load,
    }
    table(result)
    written = of_server(RESULTS if args.client == "wrk" else PYTHON_RESULTS, args.server)
    written.parent.mkdir(parents=True, exist_ok=True)
    written.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written to {written}")
    violations = sum(result["invariants"].values())
    if violations or result["purchases"]["errors"]:
        print(f"FAILED: {violations} invariant violations, {result['purchases']['errors']} errors")
        sys.exit(1)


if __name__ == "__main__":
    main()
