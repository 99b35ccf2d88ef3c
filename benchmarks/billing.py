"""Billing benchmark: a monthly billing run (`run_billing`) for many agencies, on localstripe.

Drops and recreates the database `mandat_billing_bench` on the server of DATABASE_URL (else the
project-local cluster), migrates it and loads the communes. It seeds demo agencies spread like
the population (`seed_agencies`), then `--purchases` purchases per agency in set-based SQL
(`INSERT … SELECT` over `generate_series`, not the HTTP purchase path): per purchase the rows a
purchase leaves behind for billing — an estimation, a qualified lead (unique e-mail and mobile),
its exclusive offer taken by the agency, the purchase and its ledger line — at instants spread
over the current month so far, then VACUUM ANALYZE. The row counts are checked.

It starts localstripe (`tests/localstripe_server.py`, in memory, on a free loopback port) and
points this process's Stripe gateway at it (`STRIPE_API_KEY`, `STRIPE_API_BASE`). As published,
localstripe lists objects by scanning its whole store (`StripeObject._api_list_all`), and it
lists a charge's refunds about a dozen times per PaymentIntent (`Charge.refunds`, through
`amount_refunded`, `refunded` and every export) and a customer's subscriptions on every
customer export: each call costs time in proportion to every object made before it, so set-up
and payments are quadratic in the fake itself (~100 ms of localstripe CPU per charge after 5,000
customers). By default the benchmark therefore runs the same server script with that one method
reading a per-type index of the store (same objects, same order; all else untouched);
`--stock-fake` runs `tests/localstripe_server.py` exactly as the tests do.

Every agency gets a Stripe customer and a card through `engine.billing.stripe_gateway`
(`create_customer`, `attach_payment_method`: three calls each, `--setup-threads` at a time),
`pm_card_visa` for most and `pm_card_chargeCustomerFail` for a `--fail-share` of them (declined
when charged, so that failures and dunning are exercised); the ids are stored on the agencies.
That set-up is timed and reported apart. localstripe keeps nothing across processes: with
`--keep` a bench database seeded with the same sizes for the same month is reused (its billing
emptied) and kept afterwards, which skips the SQL seeding only — the Stripe objects are made
again on every run.

Then `run_billing(period, now)` runs in this process on the current month with `now` just after its
end (as tests/integration/test_billing.py does). Measured around it: wall time; the documents phase
(claims + `issue_documents` per batch of agencies + commits) and the payments phase
(`collect_invoice` per invoice, `--payment-workers` at a time within `--rate` Stripe calls a second,
default 80, in `--payment-processes` processes from 10,000 invoices, starting as soon as the first
batch is committed): the documents phase by wrapping `issue_documents` (the run's start to the last
batch's commit), the payments phase from the payment attempts' own times in the database (the first
attempt's start to the last one's answer recorded), the charge itself by wrapping
`stripe_gateway.charge` when the payments run in this process (`--payment-processes 1`, or fewer
than 10,000 invoices); every SQL statement sent through SQLAlchemy (client-side round trip,
cursor events; a collection's statements go to psycopg directly and are not in it) grouped by
statement, the claim query also by decile of the run; the CPU time of this process, of
the bench database's backends (when the server is local) and of localstripe, from /proc; the peak
resident memory of this process during the run (VmHWM, reset just before it through
/proc/self/clear_refs) and of localstripe. Time inside `charge` is "the Stripe fake's" (SDK +
loopback HTTP + localstripe); everything else is ours. Within it, the CPU of this thread (the stripe
SDK) and localstripe's CPU are shown apart: they overlap in part (localstripe finishes an answer's
work on the other CPU while the SDK reads it), so they need not add up to its time. `--tracemalloc`
adds the Python heap peak (tracemalloc slows Python down: the timings of such a run are not
comparable).

Afterwards the books are checked in SQL: one invoice per agency with purchases, their HT sum
equal to the ledger's, invoice numbers gap-free from 1, every ledger line on one document line,
exactly one succeeded attempt per paid invoice and none on a failed one, paid and failed counts
as the cards predict, and a sample of PaymentIntents read back from localstripe. Any failed check
exits 1.

Targets (issue 16): documents ≥ 1,000/s in the documents phase; payments/s within ±10 % of
`--rate` (localstripe is the Stripe here: its own speed may cap payments/s, so its CPU per charge
is reported beside it); the whole run ≤ invoices / rate + the documents phase. The Stripe set-up
before the run is not paced (`MANDAT_STRIPE_RATE` raised for it): only the run keeps the rate.

Factur-X (issue 14): the run writes the documents; their Factur-X (PDF/A-3b, ~0.3 s of CPU each)
is rendered afterwards from the stored records by `einvoice.issue_pending` in `--facturx-workers`
processes (the scheduler's `einvoices` job, never inside the run or under the numbering lock).
`--facturx sample` (default) renders `--facturx-sample` of the run's documents after it and
extrapolates the rendering of all of them from that rate; `--facturx all` renders every document
in a thread started when the payments phase starts (as the scheduler's job would run beside the
run) and reports the run with Factur-X as the time until both are done; `--facturx none` skips it.

Machines are noisy (other benchmarks may share the CPUs): per-call figures are medians and p99,
rates are taken over the phase's own wall time, and the load average is recorded. The table is
printed and written to benchmarks/results/billing.json; localstripe's log goes to
benchmarks/results/billing-localstripe.log.

Run: .venv/bin/python benchmarks/billing.py [--agencies 35000] [--purchases 10]
     [--fail-share 0.02] [--setup-threads 4] [--rate 80] [--payment-workers 32]
     [--payment-processes 1]
     [--baseline 300] [--facturx sample|all|none] [--facturx-sample 200] [--facturx-workers CPUS]
     [--stock-fake] [--tracemalloc] [--keep]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import httpx
import numpy as np
from harness import (
    autocommit,
    bench_urls,
    drop_database,
    free_port,
    mark_seeded,
    new_database,
    plain,
    seeded_with,
)
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

import engine.billing.payments as payments
import engine.billing.run as billing_run
from engine.billing import stripe_gateway as gateway
from engine.billing.documents import PARIS, bill_agency, period_bounds
from engine.billing.einvoice import issue_pending
from engine.db import get_engine, unit_of_work
from engine.demo.seed import seed_agencies
from engine.migrate import upgrade
from engine.settings import read_settings

BENCH_DB = "mandat_billing_bench"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "billing.json"
STRIPE_LOG = RESULTS.parent / "billing-localstripe.log"
GOOD_CARD, FAILING_CARD = "pm_card_visa", "pm_card_chargeCustomerFail"
HZ = os.sysconf("SC_CLK_TCK")
SAMPLE_INTENTS = 25  # PaymentIntents read back from localstripe after the run

# --- the database ---------------------------------------------------------------------------


def this_month() -> tuple[date, datetime]:
    """The current month and an instant just after it ends: billing it 'next month'."""
    period = datetime.now(PARIS).date().replace(day=1)
    following = (period + timedelta(days=32)).replace(day=1)
    return period, datetime(following.year, following.month, 1, 1, tzinfo=PARIS)


def marker(args: argparse.Namespace, period: date) -> str:
    """What the bench database was seeded with, kept as its comment (for `--keep`)."""
    return (
        f"billing bench: agencies={args.agencies} purchases={args.purchases} "
        f"seed={args.seed} month={period:%Y-%m}"
    )


# Per purchase: ids, the buyer, its office commune and point, a price and an instant spread over
# the month so far (golden-ratio sequence: deterministic, even), in the order they happened.
_PURCHASES = """
    CREATE TEMP TABLE bench_buy ON COMMIT DROP AS
    SELECT n, agency_id, commune, point, gen_random_uuid() AS estimation_id,
           gen_random_uuid() AS lead_id, gen_random_uuid() AS purchase_id,
           (1500 + (n * 7919) % 6000)::bigint AS price,
           CAST(:start AS timestamptz)
               + (CAST(:now AS timestamptz) - CAST(:start AS timestamptz))
                 * ((n * 0.6180339887498949) % 1) AS at
    FROM (SELECT row_number() OVER (ORDER BY g.k, a.id) AS n, a.id AS agency_id,
                 a.office_commune_code AS commune, a.office AS point
          FROM agency a CROSS JOIN generate_series(1, :per_agency) AS g(k)) s
"""
_INSERTS = {
    "estimation": """
        INSERT INTO estimation (id, created_at, source, property_type, surface_m2, property,
                                postal_code, commune_code, location, location_precision,
                                estimate, candidates, matching_rules)
        SELECT b.estimation_id, b.at - interval '10 minutes', 'bench', 'appartement', 70,
               '{"rooms": 3}', coalesce(pc.postal_code, '00000'), b.commune, b.point,
               'town_hall', '{}', jsonb_build_array(jsonb_build_object('id', b.agency_id)), '{}'
        FROM bench_buy b
        LEFT JOIN (SELECT commune_code, min(postal_code) AS postal_code FROM postal_code
                   GROUP BY commune_code) pc ON pc.commune_code = b.commune
        ORDER BY b.at
    """,
    "lead": """
        INSERT INTO lead (id, estimation_id, created_at, commune_code, first_name, last_name,
                          email, phone_e164, timeline, is_owner, status, score, grade,
                          score_reasons, quarantine_reasons, dedupe_until,
                          consent_text_version, consented_at, user_agent, rules)
        SELECT lead_id, estimation_id, at - interval '5 minutes', commune, 'Bench',
               'Vendeur' || n, 'bench' || n || '@exemple.fr', '+336' || lpad(n::text, 8, '0'),
               'asap', true, 'qualified', 80, 'A', '[]', '[]', at + interval '90 days',
               :consent, at - interval '5 minutes', 'bench', '{}'
        FROM bench_buy ORDER BY at
    """,
    "offer": """
        INSERT INTO offer (lead_id, created_at, exclusive_until, expires_at, shared_cap,
                           exclusive_price_cents, shared_price_cents, price_grid_version,
                           price_factors, exclusive_buyer, shared_buyers)
        SELECT lead_id, at - interval '5 minutes', at + interval '1 day', at + interval '7 days',
               3, price, price / 2, :grid, '{}', agency_id, 0
        FROM bench_buy ORDER BY at
    """,
    "purchase": """
        INSERT INTO purchase (id, lead_id, agency_id, mode, price_cents, created_at, allocation)
        SELECT purchase_id, lead_id, agency_id, 'exclusive', price, at, '{}'
        FROM bench_buy ORDER BY at
    """,
    "ledger_line": """
        INSERT INTO ledger_line (agency_id, purchase_id, kind, amount_cents, created_at)
        SELECT agency_id, purchase_id, 'purchase', price, at FROM bench_buy ORDER BY at
    """,
}


def seed_purchases(session: Session, per_agency: int, period: date) -> dict[str, float]:
    """`per_agency` purchases for every agency, table by table; seconds per table."""
    start, _ = period_bounds(period)
    now = datetime.now(PARIS)
    consent = session.execute(text("SELECT min(version) FROM consent_text")).scalar_one()
    grid = session.execute(text("SELECT max(version) FROM price_grid")).scalar_one()
    times: dict[str, float] = {}
    t0 = perf_counter_ns()
    session.execute(text(_PURCHASES), {"start": start, "now": now, "per_agency": per_agency})
    session.execute(text("ANALYZE bench_buy"))
    times["plan"] = (perf_counter_ns() - t0) / 1e9
    for table, sql in _INSERTS.items():
        t0 = perf_counter_ns()
        session.execute(text(sql), {"consent": consent, "grid": grid})
        times[table] = (perf_counter_ns() - t0) / 1e9
        print(f"  {table}: {times[table]:.1f} s", flush=True)
    return times


def row_counts(url: str) -> dict[str, int]:
    tables = ("agency", "estimation", "lead", "offer", "purchase", "ledger_line")
    with Session(get_engine(url)) as session:
        return {
            t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }


def empty_billing(url: str) -> None:
    """What a billing run wrote, gone (ledger lines stay: they are the input)."""
    with unit_of_work(url) as session:
        session.execute(
            text("""TRUNCATE document_line, payment_attempt, dunning, refund_request,
                             credit_note, invoice, billing_run, number_series, outbox,
                             stripe_event CASCADE""")
        )
        session.execute(
            text("""UPDATE agency SET stripe_customer_id = NULL, stripe_payment_method_id = NULL,
                           status = 'active', suspension_reason = NULL""")
        )
    autocommit(url, "VACUUM ANALYZE")


def prepare(admin: str, url: str, args: argparse.Namespace, period: date) -> dict[str, Any]:
    """A bench database seeded as asked: reused with `--keep` when it already is, else new."""
    if args.keep and seeded_with(admin, BENCH_DB) == marker(args, period):
        print(f"reusing {BENCH_DB} ({marker(args, period)}): emptying its billing", flush=True)
        upgrade(url)
        empty_billing(url)
        return {"reused": True}
    print(f"creating {BENCH_DB}: migrations, communes", flush=True)
    print(" ", new_database(admin, url, BENCH_DB), flush=True)
    figures: dict[str, Any] = {"reused": False}
    print(f"seeding {args.agencies:,} agencies", flush=True)
    t0 = perf_counter_ns()
    with unit_of_work(url) as session:
        seed_agencies(session, args.agencies, seed=args.seed)
    figures["agencies_s"] = (perf_counter_ns() - t0) / 1e9
    total = args.agencies * args.purchases
    print(f"  {figures['agencies_s']:.1f} s; seeding {total:,} purchases", flush=True)
    t0 = perf_counter_ns()
    with unit_of_work(url) as session:
        figures["purchase_tables_s"] = seed_purchases(session, args.purchases, period)
    figures["purchases_s"] = (perf_counter_ns() - t0) / 1e9
    t0 = perf_counter_ns()
    autocommit(url, "VACUUM ANALYZE")
    figures["analyze_s"] = (perf_counter_ns() - t0) / 1e9
    print(
        f"  {figures['purchases_s']:.1f} s; VACUUM ANALYZE {figures['analyze_s']:.1f} s",
        flush=True,
    )
    mark_seeded(admin, BENCH_DB, marker(args, period))
    return figures


def database_facts(url: str) -> dict[str, Any]:
    with Session(get_engine(url)) as session:
        row = session.execute(
            text("""SELECT current_setting('server_version') AS pg,
                           current_setting('synchronous_commit') AS sync,
                           current_setting('shared_buffers') AS buffers,
                           pg_database_size(current_database()) AS size""")
        ).one()
    return {
        "postgresql": row.pg,
        "synchronous_commit": row.sync,
        "shared_buffers": row.buffers,
        "database_mb": row.size / 2**20,
    }


# --- localstripe ----------------------------------------------------------------------------

# tests/localstripe_server.py, with StripeObject._api_list_all reading a per-type index of the
# store instead of scanning all of it (same objects, same insertion order). argv[1] is the port.
INDEXED_FAKE = """
import runpy, sys
from collections import defaultdict
from localstripe import resources as r

index = defaultdict(dict)
_set, _del, _clear = r.Store.__setitem__, r.Store.__delitem__, r.Store.clear

def setitem(self, key, value):
    _set(self, key, value)
    index[key.split(":", 1)[0]][key] = value

def delitem(self, key):
    _del(self, key)
    index[key.split(":", 1)[0]].pop(key, None)

def clear(self):
    _clear(self)
    index.clear()

def list_all(cls, url, limit=None, starting_after=None, **kwargs):
    if kwargs:
        raise r.UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
    li = r.List(url, limit=limit, starting_after=starting_after)
    li._list = list(index[cls.object].values())
    return li

r.Store.__setitem__, r.Store.__delitem__, r.Store.clear = setitem, delitem, clear
r.StripeObject._api_list_all = classmethod(list_all)
runpy.run_path(sys.argv[2], run_name="__main__")
"""


@contextmanager
def localstripe(stock: bool) -> Iterator[subprocess.Popen[bytes]]:
    """localstripe on a free loopback port, in its own process group; this process's gateway
    points at it. Stopped on the way out."""
    port = free_port()
    script = str(ROOT / "tests" / "localstripe_server.py")
    command = [script, str(port)] if stock else ["-c", INDEXED_FAKE, str(port), script]
    base = f"http://127.0.0.1:{port}"
    STRIPE_LOG.parent.mkdir(parents=True, exist_ok=True)
    with STRIPE_LOG.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = STRIPE_LOG.read_text(errors="replace")[-1500:]
                    raise RuntimeError(f"localstripe did not start:\n{tail}")
                try:
                    httpx.delete(f"{base}/_config/data", timeout=1).raise_for_status()
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            os.environ["STRIPE_API_KEY"] = "sk_test_bench"
            os.environ["STRIPE_API_BASE"] = base
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to its process group, SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def cpu_s(pid: int, command: str | None = None) -> float:
    """User + system CPU seconds of one process, from /proc (0 when it is gone, or when it is
    not `command`: a database server on another machine has no local backends)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    if command is not None and raw[raw.index("(") + 1 : raw.rindex(")")] != command:
        return 0.0
    rest = raw[raw.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / HZ


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """Resident and peak resident memory (VmRSS, VmHWM) of one process, MiB."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return found


def reset_peak_rss() -> bool:
    """Resets this process's VmHWM to its current RSS (Linux ≥ 4.0); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def backend_pids(admin: str) -> list[int]:
    engine = create_engine(admin)
    with engine.connect() as conn:
        pids = conn.execute(
            text("""SELECT pid FROM pg_stat_activity
                    WHERE datname = :d AND backend_type = 'client backend'"""),
            {"d": BENCH_DB},
        ).scalars()
        found = list(pids)
    engine.dispose()
    return found


def ms(values: list[int] | np.ndarray) -> dict[str, float]:
    """Median, p99, max and sum of nanosecond timings, in ms."""
    a = np.asarray(values, dtype=float) / 1e6
    if not len(a):
        return {"count": 0}
    return {
        "count": len(a),
        "median_ms": float(np.median(a)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "total_s": float(a.sum() / 1e3),
    }


def setup_stripe(url: str, args: argparse.Namespace, stripe_pid: int) -> dict[str, Any]:
    """A customer and a card per agency through the gateway, `--setup-threads` at a time; the
    ids stored on the agencies."""
    with Session(get_engine(url)) as session:
        agencies = session.execute(text("SELECT id, name, email FROM agency ORDER BY id")).all()
    rng = np.random.default_rng(args.seed + 7)
    failing = rng.random(len(agencies)) < args.fail_share

    def one(i: int) -> tuple[str, str, int, int]:
        a = agencies[i]
        t0 = perf_counter_ns()
        customer = gateway.create_customer(str(a.id), a.name, a.email)
        t1 = perf_counter_ns()
        method = gateway.attach_payment_method(customer, FAILING_CARD if failing[i] else GOOD_CARD)
        return customer, method, t1 - t0, perf_counter_ns() - t1

    print(
        f"Stripe set-up: {len(agencies):,} customers and cards "
        f"({int(failing.sum()):,} failing), {args.setup_threads} threads",
        flush=True,
    )
    cpu0, fake0, t0 = own_cpu_s(), cpu_s(stripe_pid), perf_counter_ns()
    os.environ["MANDAT_STRIPE_RATE"] = "1000000"  # the set-up is not what is measured
    with ThreadPoolExecutor(args.setup_threads) as pool:
        made = list(pool.map(one, range(len(agencies)), chunksize=64))
    wall = (perf_counter_ns() - t0) / 1e9
    cpu, fake = own_cpu_s() - cpu0, cpu_s(stripe_pid) - fake0
    t1 = perf_counter_ns()
    with unit_of_work(url) as session:
        session.execute(
            text("""
                UPDATE agency a SET stripe_customer_id = s.c, stripe_payment_method_id = s.m
                FROM unnest(CAST(:ids AS uuid[]), CAST(:c AS text[]), CAST(:m AS text[]))
                     AS s(id, c, m)
                WHERE a.id = s.id
            """),
            {
                "ids": [a.id for a in agencies],
                "c": [m[0] for m in made],
                "m": [m[1] for m in made],
            },
        )
    autocommit(url, "VACUUM ANALYZE agency")
    return {
        "agencies": len(agencies),
        "failing_cards": int(failing.sum()),
        "threads": args.setup_threads,
        "wall_s": wall,
        "calls": 3 * len(agencies),
        "calls_s": 3 * len(agencies) / wall,
        "create_customer": ms([m[2] for m in made]),
        "attach_payment_method": ms([m[3] for m in made]),
        "client_cpu_s": cpu,
        "localstripe_cpu_s": fake,
        "store_ids_s": (perf_counter_ns() - t1) / 1e9,
        "failing_agency_ids": {str(agencies[i].id) for i in np.flatnonzero(failing).tolist()},
    }


# --- the run --------------------------------------------------------------------------------


class Probe:
    """Timings of the run: wrapped functions, SQL statements, CPU, memory."""

    def __init__(self) -> None:
        self.bill: list[int] = []  # per batch of agencies
        self.bill_cpu: list[int] = []  # this thread's CPU inside issue_documents
        self.on_first_batch: Callable[[], None] | None = None  # payments start with it
        self.charge: list[int] = []
        self.charge_cpu: list[int] = []  # this thread's CPU inside charge: the SDK's work
        self.agency_at: list[int] = []  # when each agency's transaction had committed
        self.sql: dict[str, list[int]] = defaultdict(list)
        self.claims: list[int] = []  # the claim query, in order

    def wrap(
        self, target: Callable[..., Any], into: list[int], cpu: list[int]
    ) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = perf_counter_ns(), time.thread_time_ns()
            try:
                return target(*args, **kwargs)
            finally:
                cpu.append(time.thread_time_ns() - c0)
                into.append(perf_counter_ns() - t0)

        return timed

    def before(self, conn: Any, _cursor: Any, *_: Any) -> None:
        conn.info.setdefault("bench_t0", []).append(perf_counter_ns())

    def after(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        elapsed = perf_counter_ns() - conn.info["bench_t0"].pop()
        label = " ".join(statement.split())[:72]
        self.sql[label].append(elapsed)
        if "FOR UPDATE OF a SKIP LOCKED" in statement:  # the agency claim
            self.claims.append(elapsed)

    @contextmanager
    def installed(self) -> Iterator[None]:
        saved = (billing_run.issue_documents, gateway.charge)
        billing_run.issue_documents = self.wrap(saved[0], self.bill, self.bill_cpu)  # type: ignore[assignment]
        gateway.charge = self.wrap(saved[1], self.charge, self.charge_cpu)  # type: ignore[assignment]
        event.listen(Engine, "before_cursor_execute", self.before)
        event.listen(Engine, "after_cursor_execute", self.after)
        try:
            yield
        finally:
            event.remove(Engine, "before_cursor_execute", self.before)
            event.remove(Engine, "after_cursor_execute", self.after)
            billing_run.issue_documents, gateway.charge = saved  # type: ignore[assignment]


def measure_run(
    admin: str, period: date, after: datetime, stripe_pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    probe = Probe()
    every = max(1, args.agencies // 10)

    def on_agency() -> None:
        if not probe.agency_at and probe.on_first_batch:
            probe.on_first_batch()
        probe.agency_at.append(perf_counter_ns())
        if len(probe.agency_at) % every == 0:
            print(f"  {len(probe.agency_at):,} agencies billed", flush=True)

    with unit_of_work() as session:  # the pool's connection exists before the clock starts
        session.execute(text("SELECT 1"))
    if args.tracemalloc:
        tracemalloc.start()
    rss_before = memory_mb()
    peak_reset = reset_peak_rss()
    fake_mem_before = memory_mb(stripe_pid)
    backends0 = {pid: cpu_s(pid, "postgres") for pid in backend_pids(admin)}
    cpu0, fake0 = own_cpu_s(), cpu_s(stripe_pid)
    os.environ["MANDAT_STRIPE_RATE"] = str(args.rate)
    os.environ["MANDAT_BILLING_PAYMENT_WORKERS"] = str(args.payment_workers)
    os.environ["MANDAT_BILLING_PAYMENT_PROCESSES"] = str(args.payment_processes)
    rendering: dict[str, Any] = {}
    renderer = threading.Thread(target=render_all, args=(args.facturx_workers, rendering))
    if args.facturx == "all":
        probe.on_first_batch = renderer.start
    print(
        f"billing {period:%Y-%m} (now = {after.isoformat()}), Stripe at {args.rate:g} calls/s, "
        f"{args.payment_workers} payment workers in {args.payment_processes} process(es) from "
        f"{payments.PROCESSES_FROM:,} invoices, Factur-X: {args.facturx}",
        flush=True,
    )
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with probe.installed():
        t0, epoch0 = perf_counter_ns(), time.time()
        report = billing_run.run_billing(period, after, on_agency)
        t1, epoch1 = perf_counter_ns(), time.time()
    cpu, fake = own_cpu_s() - cpu0, cpu_s(stripe_pid) - fake0
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the payment processes, reaped
    payment_processes_cpu = (children1.ru_utime + children1.ru_stime) - (
        children0.ru_utime + children0.ru_stime
    )
    attempts = payment_times(epoch0, (epoch1 - epoch0) / ((t1 - t0) / 1e9))
    if renderer.is_alive() or rendering:
        renderer.join()
        rendering["with_run_wall_s"] = (rendering["end"] - t0) / 1e9
    backends1 = {pid: cpu_s(pid, "postgres") for pid in backend_pids(admin)}
    peak = memory_mb()
    heap_peak = None
    if args.tracemalloc:
        heap_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    db_cpu = sum(v - backends0.get(pid, 0.0) for pid, v in backends1.items())

    wall = (t1 - t0) / 1e9
    docs_wall = ((probe.agency_at[-1] if probe.agency_at else t1) - t0) / 1e9
    pay_wall = attempts["last_end_s"] - attempts["first_start_s"] if attempts["count"] else 0.0
    documents = report.invoices + report.credit_notes
    charge_s = sum(probe.charge) / 1e9
    bill_s = sum(probe.bill) / 1e9
    sql_s = sum(sum(v) for v in probe.sql.values()) / 1e9
    # Per agency of the documents phase: the time from one commit to the next, by decile.
    gaps = np.diff(np.array([t0, *probe.agency_at], dtype=np.int64))
    deciles = [ms(part)["median_ms"] for part in np.array_split(gaps, 10) if len(part)]
    claims = np.array(probe.claims, dtype=np.int64)
    claim_deciles = [ms(part)["median_ms"] for part in np.array_split(claims, 10) if len(part)]
    statements = sorted(
        ({"sql": k, **ms(v)} for k, v in probe.sql.items()), key=lambda s: -s["total_s"]
    )
    targets = run_targets(report.invoices, documents, docs_wall, pay_wall, wall, attempts["count"],
                          args.rate)  # fmt: skip
    return {
        "targets": targets,
        "facturx_all": {k: v for k, v in rendering.items() if k != "end"} or None,
        "report": {
            "invoices": report.invoices,
            "credit_notes": report.credit_notes,
            "paid": report.paid,
            "failed": report.failed,
            "unreachable": report.unreachable,
            "refunds": report.refunds,
            "notes": report.notes,
        },
        "wall_s": wall,
        "documents_phase_s": docs_wall,
        "payments_phase_s": pay_wall,
        "payments_start_s": attempts["first_start_s"],
        "rest_s": wall - attempts["last_end_s"] if attempts["count"] else wall - docs_wall,
        "documents_s": documents / docs_wall if docs_wall else None,
        "documents_s_whole_run": documents / wall,
        "payments_s": attempts["count"] / pay_wall if pay_wall else None,
        "issue_documents_per_batch": ms(probe.bill),
        "per_agency_documents_phase_ms_by_decile": deciles,
        "claim_query_ms_by_decile": claim_deciles,
        "claim_query": ms(probe.claims),
        "collect": attempts["collect"],
        "charge": ms(probe.charge),
        "time_split_s": {
            "stripe_charge_calls": charge_s,
            "ours_sql_round_trips": sql_s,
            "ours_issue_documents": bill_s,
            "ours_issue_documents_python_cpu": sum(probe.bill_cpu) / 1e9,
            "in_charge_sdk_cpu_this_process": sum(probe.charge_cpu) / 1e9,
            "in_charge_localstripe_cpu": fake,
        },
        "cpu_s": {
            "this_process": cpu,
            "payment_processes": payment_processes_cpu,
            "localstripe": fake,
            "bench_db_backends": db_cpu,
        },
        "localstripe_cpu_per_charge_ms": (
            1e3 * fake / attempts["count"] if attempts["count"] else None
        ),
        "sql_statements": statements,
        "sql_calls_per_agency": sum(len(v) for v in probe.sql.values()) / max(report.invoices, 1),
        "memory_mb": {
            "this_process_rss_before": rss_before.get("VmRSS"),
            "this_process_peak_rss_during_run": peak.get("VmHWM") if peak_reset else None,
            "this_process_peak_rss_whole_process": resource.getrusage(
                resource.RUSAGE_SELF
            ).ru_maxrss
            / 1024,
            "peak_reset_worked": peak_reset,
            "python_heap_peak_tracemalloc": heap_peak,
            "localstripe_rss_before_run": fake_mem_before.get("VmRSS"),
            "localstripe_rss_after_run": memory_mb(stripe_pid).get("VmRSS"),
            "localstripe_peak_rss": memory_mb(stripe_pid).get("VmHWM"),
        },
    }


def payment_times(epoch0: float, drift: float) -> dict[str, Any]:
    """The payments phase from the attempts' own times (in whichever process they ran): each
    attempt's row is written at its collection's start (`created_at`, its transaction's start)
    and its answer recorded at its end (`finished_at`); seconds from the run's start, on the
    clock the rest is timed with (`drift`: how much faster the wall clock ran than it during
    the run, 0.3 % on a virtual machine here)."""
    with unit_of_work() as session:
        rows = session.execute(
            text("""
                SELECT extract(epoch FROM created_at) AS started,
                       extract(epoch FROM finished_at) AS ended
                FROM payment_attempt WHERE finished_at IS NOT NULL
            """)
        ).all()
    if not rows:
        return {"count": 0, "collect": ms([])}
    started = (np.array([float(r.started) for r in rows]) - epoch0) / drift
    ended = (np.array([float(r.ended) for r in rows]) - epoch0) / drift
    return {
        "count": len(rows),
        "first_start_s": float(started.min()),
        "last_end_s": float(ended.max()),
        "collect": ms(((ended - started) * 1e9).astype(np.int64)),
    }


def one_by_one_baseline(url: str, period: date, after: datetime, count: int) -> dict[str, Any]:
    """The former documents phase on `count` agencies, in this run's conditions: one agency per
    transaction (`bill_agency`), its deferred checks run (SET CONSTRAINTS ALL IMMEDIATE), then
    rolled back (numbers given back; the run after it bills them all). Without the commits'
    WAL flushes it flatters the former path a little."""
    if count <= 0:
        return {}
    with Session(get_engine(url)) as session:
        agencies = list(
            session.execute(
                text("SELECT id FROM agency ORDER BY id LIMIT :n"), {"n": count}
            ).scalars()
        )
        settings = read_settings(session)
    documents, t0 = 0, perf_counter_ns()
    for agency in agencies:
        with Session(get_engine(url)) as session:
            session.execute(
                text("SELECT id FROM agency WHERE id = :a FOR UPDATE SKIP LOCKED"), {"a": agency}
            )
            made = bill_agency(session, agency, period, after, None, settings)
            session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
            session.rollback()
        documents += (made.invoice is not None) + len(made.credit_notes)
    wall = (perf_counter_ns() - t0) / 1e9
    return {"agencies": len(agencies), "documents": documents, "wall_s": wall,
            "documents_s": documents / wall if wall else None}  # fmt: skip


def run_targets(invoices: int, documents: int, docs_wall: float, pay_wall: float, wall: float,
                collected: int, rate: float) -> dict[str, Any]:  # fmt: skip
    """Issue 16's targets for the run, each with its figure and whether it is met."""
    payments_s = collected / pay_wall if pay_wall else None
    bound = invoices / rate + docs_wall
    return {
        "documents_per_s": {"value": documents / docs_wall if docs_wall else None,
                            "target": ">= 1000",
                            "met": bool(docs_wall) and documents / docs_wall >= 1000},
        "payments_per_s_vs_rate": {"value": payments_s, "rate": rate,
                                   "ratio": payments_s / rate if payments_s else None,
                                   "target": "rate ± 10 %",
                                   "met": payments_s is not None
                                   and 0.9 <= payments_s / rate <= 1.1},
        "whole_run_s": {"value": wall, "bound_s": bound,
                        "target": "<= invoices / rate + documents phase", "met": wall <= bound},
    }  # fmt: skip


def render_all(workers: int, into: dict[str, Any]) -> None:
    """Every document's Factur-X (what the scheduler's `einvoices` job does), timed."""
    t0 = perf_counter_ns()
    done = issue_pending(limit=10_000_000, workers=workers)
    into["end"] = perf_counter_ns()
    wall = (into["end"] - t0) / 1e9
    into.update(
        {
            "documents": done.issued,
            "incomplete": done.incomplete,
            "workers": workers,
            "wall_s": wall,
            "documents_s": done.issued / wall if wall else None,
            "wall_ms_per_document_per_worker": 1e3 * wall * workers / max(done.issued, 1),
        }
    )


def render_sample(url: str, count: int, workers: int, documents: int,
                  run_wall: float) -> dict[str, Any]:  # fmt: skip
    """`count` of the run's documents rendered as Factur-X; the rendering of all `documents`
    extrapolated from that rate (the run itself does not render)."""
    print(f"Factur-X: rendering {count} documents with {workers} workers", flush=True)
    t0 = perf_counter_ns()
    done = issue_pending(limit=count, workers=workers)
    wall = (perf_counter_ns() - t0) / 1e9
    with Session(get_engine(url)) as session:
        sizes = session.execute(
            text("SELECT avg(length(pdf)), avg(length(xml)) FROM einvoice")
        ).one()
    rate = done.issued / wall if wall else 0.0
    all_s = documents / rate if rate else None
    return {
        "documents": done.issued,
        "incomplete": done.incomplete,
        "workers": workers,
        "wall_s": wall,
        "documents_s": rate,
        "wall_ms_per_document_per_worker": 1e3 * wall * workers / max(done.issued, 1),
        "pdf_kb": float(sizes[0] or 0) / 1024,
        "xml_kb": float(sizes[1] or 0) / 1024,
        "all_documents_estimated_s": all_s,
        "run_with_facturx_after_estimated_s": run_wall + all_s if all_s else None,
        "ratio_to_run_without": (run_wall + all_s) / run_wall if all_s else None,
    }


# --- the books ------------------------------------------------------------------------------

_BOOKS = """
    WITH billed AS (SELECT * FROM ledger_line WHERE created_at < :until),
         numbered AS (SELECT split_part(number, '-', 3)::int AS n FROM invoice
                      WHERE number LIKE 'F-' || :year || '-%')
    SELECT
      (SELECT count(DISTINCT agency_id) FROM billed) AS agencies_with_purchases,
      (SELECT count(*) FROM invoice WHERE period = :period) AS invoices,
      (SELECT coalesce(sum(amount_cents), 0) FROM billed) AS ledger_cents,
      (SELECT coalesce(sum(total_ht_cents), 0) FROM invoice WHERE period = :period)
          - (SELECT coalesce(sum(total_ht_cents), 0) FROM credit_note) AS documents_ht_cents,
      (SELECT count(*) FROM billed) AS ledger_lines,
      (SELECT count(*) FROM document_line) AS document_lines,
      (SELECT count(DISTINCT ledger_line_id) FROM document_line) AS distinct_ledger_lines,
      (SELECT count(*) FROM numbered) AS numbers,
      (SELECT count(DISTINCT n) FROM numbered) AS distinct_numbers,
      (SELECT min(n) FROM numbered) AS min_number,
      (SELECT max(n) FROM numbered) AS max_number,
      (SELECT count(*) FROM invoice WHERE status = 'paid') AS paid,
      (SELECT count(*) FROM invoice WHERE status = 'payment_failed') AS failed,
      (SELECT count(*) FROM invoice WHERE status = 'open') AS still_open,
      (SELECT count(*) FROM invoice i WHERE i.status = 'paid' AND
          (SELECT count(*) FROM payment_attempt p
           WHERE p.invoice_id = i.id AND p.status = 'succeeded') <> 1) AS paid_without_one_success,
      (SELECT count(*) FROM invoice i WHERE i.status <> 'paid' AND EXISTS
          (SELECT 1 FROM payment_attempt p
           WHERE p.invoice_id = i.id AND p.status = 'succeeded')) AS unpaid_with_success,
      (SELECT count(*) FROM payment_attempt) AS attempts,
      (SELECT count(*) FROM dunning) AS dunning_cases,
      (SELECT count(*) FROM invoice WHERE total_ttc_cents <> total_ht_cents + vat_cents)
          AS bad_totals,
      (SELECT coalesce(sum(total_ttc_cents), 0) FROM invoice WHERE status = 'paid')
          AS paid_ttc_cents
"""


def check_books(url: str, period: date, after: datetime, run: dict[str, Any],
                stripe: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """The figures of the books and the list of failed checks."""
    _, until = period_bounds(period)
    with Session(get_engine(url)) as session:
        books = dict(
            session.execute(
                text(_BOOKS),
                {"until": until, "period": period, "year": str(after.astimezone(PARIS).year)},
            )
            .mappings()
            .one()
        )
        failed_agencies = {
            str(a)
            for a in session.execute(
                text("SELECT agency_id FROM invoice WHERE status = 'payment_failed'")
            ).scalars()
        }
        sample = session.execute(
            text("""SELECT stripe_payment_intent_id AS pi, total_ttc_cents FROM invoice
                    WHERE status = 'paid' ORDER BY number LIMIT :n"""),
            {"n": SAMPLE_INTENTS},
        ).all()
    books = {k: int(v) if v is not None else None for k, v in books.items()}
    intents_ok = 0
    for row in sample:
        intent = gateway.payment_intent(row.pi)
        intents_ok += intent["amount"] == row.total_ttc_cents and intent["status"] == "succeeded"
    books["intents_read_back"], books["intents_matching"] = len(sample), intents_ok
    report = run["report"]
    n = books["invoices"]
    checks = {
        "invoices = agencies with purchases": n == books["agencies_with_purchases"],
        "the run's count = invoices in the database": report["invoices"] == n,
        "sum of invoice HT = sum of ledger": books["documents_ht_cents"] == books["ledger_cents"],
        "every ledger line on exactly one document line": (
            books["document_lines"] == books["distinct_ledger_lines"] == books["ledger_lines"]
        ),
        "invoice numbers gap-free 1..N": (
            books["numbers"] == books["distinct_numbers"] == n
            and (n == 0 or (books["min_number"] == 1 and books["max_number"] == n))
        ),
        "TTC = HT + VAT on every invoice": books["bad_totals"] == 0,
        "one succeeded attempt per paid invoice": books["paid_without_one_success"] == 0,
        "no succeeded attempt on an unpaid invoice": books["unpaid_with_success"] == 0,
        "one attempt per invoice": books["attempts"] == n,
        "no invoice left open": books["still_open"] == 0,
        "failed invoices = agencies with a failing card": (
            failed_agencies == stripe["failing_agency_ids"]
        ),
        "paid + failed = invoices (run report)": (
            report["paid"] == books["paid"] and report["failed"] == books["failed"]
            and report["unreachable"] == 0 and books["paid"] + books["failed"] == n
        ),
        "one dunning case per failed invoice": books["dunning_cases"] == books["failed"],
        "PaymentIntents read back match their invoices": intents_ok == len(sample),
    }  # fmt: skip
    return books, [k for k, ok in checks.items() if not ok]


# --- the report -----------------------------------------------------------------------------


def table(result: dict[str, Any]) -> None:
    run, setup, books = result["run"], result["stripe_setup"], result["books"]
    split, cpu, mem = run["time_split_s"], run["cpu_s"], run["memory_mb"]

    def lat(f: dict[str, Any]) -> str:
        if not f.get("count"):
            return "-"
        return f"{f['median_ms']:.2f} / {f['p99_ms']:.2f} / {f['max_ms']:.1f}"

    def opt(x: float | None, spec: str) -> str:
        return "-" if x is None else format(x, spec)

    rows = [
        ("Stripe fake", result["stripe_fake"]),
        ("agencies (failing cards)", f"{setup['agencies']:,} ({setup['failing_cards']:,})"),
        ("ledger lines billed", f"{books['ledger_lines']:,}"),
        ("invoices (credit notes)",
         f"{run['report']['invoices']:,} ({run['report']['credit_notes']:,})"),
        ("paid / failed / unreachable", f"{run['report']['paid']:,} / "
         f"{run['report']['failed']:,} / {run['report']['unreachable']:,}"),
        ("run wall s", f"{run['wall_s']:,.1f}"),
        ("  documents phase s", f"{run['documents_phase_s']:,.1f}"),
        ("  payments phase s (from s after the start)",
         f"{run['payments_phase_s']:,.1f} ({run.get('payments_start_s', 0):,.2f})"),
        ("  refunds + finish s", f"{run['rest_s']:,.2f}"),
        ("documents/s (documents phase)", opt(run["documents_s"], ",.1f")),
        ("documents/s (whole run)", f"{run['documents_s_whole_run']:,.1f}"),
        ("payments/s (payments phase)", opt(run["payments_s"], ",.1f")),
        ("issue_documents per batch med / p99 / max ms", lat(run["issue_documents_per_batch"])),
        ("claim query med / p99 / max ms", lat(run["claim_query"])),
        ("claim query median ms by decile",
         " ".join(f"{x:.2f}" for x in run["claim_query_ms_by_decile"])),
        ("per agency (documents) median ms by decile",
         " ".join(f"{x:.2f}" for x in run["per_agency_documents_phase_ms_by_decile"])),
        ("collect med / p99 / max ms", lat(run["collect"])),
        ("charge (Stripe call) med / p99 / max ms", lat(run["charge"])),
        ("Stripe charge calls s, summed over this process's workers",
         f"{split['stripe_charge_calls']:,.1f}"),
        ("  CPU in them s: SDK, here / localstripe",
         f"{split['in_charge_sdk_cpu_this_process']:,.1f} / "
         f"{split['in_charge_localstripe_cpu']:,.1f}"),
        ("SQL round trips s, summed over this process's threads",
         f"{split['ours_sql_round_trips']:,.1f}"),
        ("issue_documents s (Python CPU in it)",
         f"{split['ours_issue_documents']:,.1f} "
         f"({split['ours_issue_documents_python_cpu']:,.1f})"),
        ("SQL statements per invoice", f"{run['sql_calls_per_agency']:.1f}"),
        ("CPU s: this process / payment processes / DB backends / localstripe",
         f"{cpu['this_process']:,.1f} / {cpu['payment_processes']:,.1f} / "
         f"{cpu['bench_db_backends']:,.1f} / {cpu['localstripe']:,.1f}"),
        ("localstripe CPU per charge ms", opt(run["localstripe_cpu_per_charge_ms"], ".2f")),
        ("peak RSS during run MiB (before)",
         f"{opt(mem['this_process_peak_rss_during_run'], ',.0f')} "
         f"({mem['this_process_rss_before']:,.0f})"),
        ("Python heap peak MiB (tracemalloc)", opt(mem["python_heap_peak_tracemalloc"], ",.1f")),
        ("localstripe RSS MiB before / after run",
         f"{opt(mem['localstripe_rss_before_run'], ',.0f')} / "
         f"{opt(mem['localstripe_rss_after_run'], ',.0f')}"),
        ("Stripe set-up s (calls/s, threads)",
         f"{setup['wall_s']:,.1f} ({setup['calls_s']:,.0f}, {setup['threads']})"),
        ("  create_customer med / p99 / max ms", lat(setup["create_customer"])),
        ("  attach_payment_method med / p99 / max ms", lat(setup["attach_payment_method"])),
    ]  # fmt: skip
    print()
    for label, value in rows:
        print(f"{label:48}{value:>40}")
    baseline = run.get("baseline_one_agency_per_transaction") or {}
    if baseline.get("documents_s"):
        print(
            f"\nsame-run baseline, one agency per transaction ({baseline['agencies']} agencies, "
            f"rolled back): {baseline['documents_s']:,.1f} documents/s; set-based "
            f"{run['documents_s']:,.1f}/s: x{baseline.get('set_based_speed_up', 0):.1f}"
        )
    print("\nIssue 16 targets:")
    for name, target in run["targets"].items():
        figures = ", ".join(
            f"{k} {v:,.2f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in target.items()
            if k not in ("met", "target") and v is not None
        )
        verdict = "met" if target["met"] else "NOT met"
        print(f"  {name:28}{figures}  (target {target['target']}): {verdict}")
    facturx = result.get("facturx")
    if facturx:
        print("\nFactur-X (rendered after the run from the stored records):")
        for key, value in facturx.items():
            print(f"  {key:44}{value:>14,.2f}" if isinstance(value, float) else
                  f"  {key:44}{value!s:>14}")  # fmt: skip
    print("\nSQL statements by total time (client round trips):")
    print(f"  {'count':>9}{'total s':>9}{'med ms':>8}{'p99 ms':>8}  statement")
    for s in run["sql_statements"][:14]:
        print(
            f"  {s['count']:>9,}{s['total_s']:>9.2f}{s['median_ms']:>8.3f}{s['p99_ms']:>8.3f}"
            f"  {s['sql'][:64]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agencies", type=int, default=35_000)
    parser.add_argument("--purchases", type=int, default=10, help="purchases per agency")
    parser.add_argument("--fail-share", type=float, default=0.02, help="agencies whose card fails")
    parser.add_argument("--setup-threads", type=int, default=4, help="Stripe set-up threads")
    parser.add_argument("--rate", type=float, default=80.0, help="Stripe calls/s in the run")
    parser.add_argument(
        "--payment-workers", type=int, default=32, help="invoices collected at once"
    )
    parser.add_argument(
        "--payment-processes",
        type=int,
        default=1,
        help="processes the payments run in from 10,000 invoices (1, the default: in this"
        " process, the charge timed)",
    )
    parser.add_argument(
        "--baseline", type=int, default=300, help="agencies billed the former way first"
    )
    parser.add_argument("--facturx", choices=("sample", "all", "none"), default="sample")
    parser.add_argument("--facturx-sample", type=int, default=200, help="documents rendered")
    parser.add_argument("--facturx-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--stock-fake", action="store_true", help="localstripe as published (quadratic)"
    )
    parser.add_argument("--tracemalloc", action="store_true", help="Python heap peak (slower)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="reuse and keep the seeded database")
    args = parser.parse_args()
    admin, url = bench_urls(BENCH_DB)
    # Whatever the engine reads from the environment is the bench database from now on.
    os.environ["DATABASE_URL"] = plain(url)
    # Leads are mailed a signed link: a throw-away key for this run.
    os.environ.setdefault("MANDAT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    period, after = this_month()
    load: dict[str, Any] = {"start": os.getloadavg()}
    failures: list[str] = []
    try:
        seeding = prepare(admin, url, args, period)
        counts = row_counts(url)
        expected = args.agencies * args.purchases
        wanted = {t: args.agencies if t == "agency" else expected for t in counts}
        wrong = {t: n for t, n in counts.items() if n != wanted[t]}
        if wrong:
            raise SystemExit(f"seeded row counts are wrong: {wrong} (expected {expected:,})")
        print(f"rows: {counts}", flush=True)
        with localstripe(args.stock_fake) as fake:
            setup = setup_stripe(url, args, fake.pid)
            print(
                f"  {setup['wall_s']:.1f} s ({setup['calls_s']:,.0f} calls/s); "
                f"localstripe RSS {memory_mb(fake.pid).get('VmRSS', 0):,.0f} MiB",
                flush=True,
            )
            print(f"baseline: the former path on {args.baseline} agencies", flush=True)
            baseline = one_by_one_baseline(url, period, after, args.baseline)
            load["before_run"] = os.getloadavg()
            run = measure_run(admin, period, after, fake.pid, args)
            if baseline.get("documents_s") and run["documents_s"]:
                baseline["set_based_speed_up"] = run["documents_s"] / baseline["documents_s"]
            run["baseline_one_agency_per_transaction"] = baseline
            load["end"] = os.getloadavg()
            books, failures = check_books(url, period, after, run, setup)
        facturx = run["facturx_all"]
        if args.facturx == "sample":
            documents = run["report"]["invoices"] + run["report"]["credit_notes"]
            facturx = render_sample(
                url, args.facturx_sample, args.facturx_workers, documents, run["wall_s"]
            )
        facts = database_facts(url)
    finally:
        get_engine(url).dispose()
        if not args.keep:
            drop_database(admin, BENCH_DB)
    setup.pop("failing_agency_ids")
    fake = "localstripe as published" if args.stock_fake else "localstripe, indexed lists"
    result = {
        "stripe_fake": fake,
        "stripe_setup": setup,
        "run": run,
        "books": books,
        "facturx": facturx,
    }
    table(result)
    print(
        f"\nmachine: {os.cpu_count()} CPUs, PostgreSQL {facts['postgresql']} "
        f"(synchronous_commit {facts['synchronous_commit']}, shared_buffers "
        f"{facts['shared_buffers']}), database {facts['database_mb']:,.0f} MiB"
    )
    if seeding["reused"]:
        print("seeding: reused (--keep)")
    else:
        print(
            f"seeding: agencies {seeding['agencies_s']:.1f} s, purchases "
            f"{seeding['purchases_s']:.1f} s "
            f"({', '.join(f'{k} {v:.1f}' for k, v in seeding['purchase_tables_s'].items())}), "
            f"VACUUM ANALYZE {seeding['analyze_s']:.1f} s"
        )
    print(f"load average (1, 5, 15 min): {load}")
    print("books:", ", ".join(f"{k} {v:,}" for k, v in books.items() if v is not None))
    if failures:
        print("CHECKS FAILED: " + "; ".join(failures))
    else:
        print("checks: all hold")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in vars(args).items() if k != "keep"}
    document = {
        "config": config,
        "period": f"{period:%Y-%m}",
        "machine": {"cpus": os.cpu_count(), **facts, "load_average": load},
        "seeding": seeding,
        "row_counts": counts,
        **result,
        "failed_checks": failures,
    }
    RESULTS.write_text(json.dumps(document, indent=2, default=float) + "\n")
    print(f"written to {RESULTS}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
