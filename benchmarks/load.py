"""Load and soak: homeowners, agencies and finance at a steady rate for ten minutes against
`mandat serve --workers 2` and `mandat scheduler`, then every invariant checked.

Drops and recreates the database `mandat_load_bench` on the server of DATABASE_URL (else the
project-local cluster), migrates it, loads the communes, seeds agencies in four cities (the
default 40 make ten per city, 190 m apart, 20 km zones) and a stock of qualified leads made by
the intake code (half of them past their exclusive window). Every agency gets a `buyer` key and
finance a `finance` key. An SMTP sink (aiosmtpd, in this process) stands in for the mail relay.

Then `mandat serve --workers 2` (trusting X-Forwarded-For from loopback, so that each simulated
homeowner has their own address) and `mandat scheduler` run, and the mix arrives as independent
Poisson streams at the rates below (per second, times `--rate`: 3 by default, which keeps two
CPUs about half busy); a pool of threads, each with its own keep-alive connection, sends the
requests (open loop: a slow answer does not slow the arrivals; the delay between a request's
due time and its start is reported as `lag`).

    GET  /healthz                                 1.0   the floor, measured in the same run
    GET  /api/v1/communes?postal_code=            1.0   the form's city suggestions
    POST /api/v1/estimations                      1.0   step 1 (90 % in the four cities)
    POST /api/v1/estimations/{id}/lead            —     step 2, 4-12 s after step 1 (the time
                                                        the homeowner takes), for 80 % of the
                                                        step 1s that named agencies; consent to
                                                        1-3 of them; own e-mail, phone, address
    GET  /api/v1/leads?limit=50                   4.0   an agency's catalogue (newest first)
    GET  /api/v1/leads/{id}                       2.0   an offer from the agency's last page
    POST /api/v1/leads/{id}/purchase              1.5   an offer from the agency's last page,
                                                        at its mode and price (409 = sold)
    POST /api/v1/purchases/{id}/refund-requests   0.2   on a purchase of this run
    GET  /api/v1/refund-requests?status=pending   0.15  finance's queue, then a decision on one
    POST /api/v1/refund-requests/{id}/decision    —     approve (60 %), half (20 %), reject
    GET  /api/v1/transparency                     0.2   the public rules
    GET  /metrics                                 0.07  a Prometheus scrape every ~15 s

After the run (in-flight requests finished, the outbox given up to 60 s to drain), the checks:
no 5xx and no transport error; every other answer one the route may give (409 only where a race
is expected: a lost purchase, a refund request already decided); no lost lead (every step 2
answered 201 has its lead row, no lead of this run without an answer); every purchase answered
201 stored and no other; the sale invariants (no oversell, counters, ledger line per purchase,
consent, mode and price); ledger = purchases − refunds (per agency, and each refund line is an
approved request's amount); no purchase refunded beyond its price; every approved request has its
ledger line; the outbox drained. Any violation exits 1.

Report: per route, requests, rate, statuses, p50/p90/p99/max (ms, client side, from the start of
the request) and p99 from the due time; the floor's p99 next to every route's p99 as a ratio;
per-minute p50/p99 of the purchase and the catalogue (a soak should not drift); the server's
memory at start and end; the CPUs' busy share. Written to benchmarks/results/load.json; the
server's and the scheduler's logs go next to it.

Run: .venv/bin/python benchmarks/load.py [--minutes 10] [--rate 3] [--agencies 40]
     [--stock 1500] [--threads 48] [--workers 2] [--seed 2026]

With `--faults` the same mix runs on a pg_auto_failover formation (a monitor, a primary and a
synchronous standby on loopback, tests/faults/pair.py) behind one PgBouncer in transaction mode
that follows the primary (re-pointed and reloaded within half a second of the old primary
refusing writes, as a virtual IP or a read-write HAProxy check would). The server's
DATABASE_URL is PgBouncer; the scheduler's lock and the migrations reach the nodes directly
(multi-host). One after the other, at 8, 16, 24, 32, 40, 48 and 56 % of the run, it injects:
`pg_autoctl perform failover`; `kill -9` of the (new) primary's postmaster, once the pair is in
sync again; a restart of PgBouncer (SIGTERM, then started again); `kill -9` of one of the
server's worker processes (uvicorn starts another); `pg_terminate_backend` of every client
backend on the primary; Stripe unreachable for 15 s while a billing run of the month (in this
process, as `mandat billing run`) collects its invoices; the SMTP relay stopped for two minutes
(at most 40 % of a shorter run), then started again. Stripe is localstripe behind
tests/stripe_proxy.py (Stripe's idempotency keys, which localstripe ignores; "down" closes every
connection unanswered); every agency gets a customer, a card that pays and a registered
address. A run that leaves invoices unreachable is followed by a second run once Stripe is back.
Clients behave as the README tells integrators to: a
503 `try_again` or a cut connection is sent again (same body, same Idempotency-Key) until it is
answered, for up to two minutes. Reported per fault: the failed attempts clients saw (503
try_again, any other 5xx, cut connections), the seconds from the fault to the last of them (the
time to recover), and requests never answered (lost); the checks above then hold with retried
503s and cut connections allowed, any other error not, and also: every purchase answered 201
is one row and every purchase row of the run was answered 201; no e-mail received twice (the
relay counts each outbox row's Message-ID); the outbox drained after the relay came back (given
up to 60 s plus twice the outage: an e-mail that failed waits out its backoff); every billing
run finished, no invoice left open, no invoice with two succeeded attempts or two succeeded
PaymentIntents at localstripe.
Written to benchmarks/results/load-faults.json.

Run: .venv/bin/python benchmarks/load.py --faults [--minutes 5] [--rate 1] [--stock 300]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import heapq
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import httpx
import numpy as np
import psycopg
from aiosmtpd.controller import Controller
from harness import (
    CITIES,
    INVARIANTS,
    ROOT,
    add_agencies,
    autocommit,
    bench_urls,
    busy_share,
    drop_database,
    free_port,
    machine_ticks,
    make_leads,
    new_database,
    percentiles,
    plain,
    process_tree,
    server,
    share_half_the_offers,
    stop,
)
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import create_key
from engine.billing import stripe_gateway as gateway
from engine.billing.documents import PARIS, period_bounds
from engine.billing.run import RunReport, run_billing
from engine.db import get_engine, unit_of_work

BENCH_DB = "mandat_load_bench"
RESULTS = Path(__file__).resolve().parent / "results" / "load.json"
SERVER_LOG = RESULTS.parent / "load-server.log"
SCHEDULER_LOG = RESULTS.parent / "load-scheduler.log"
ELSEWHERE = (("75011", "Paris"), ("69003", "Lyon"), ("13001", "Marseille"))  # no agency there
CONSENT_VERSION = "consent-2026-11-fr"
SHOWN_ERRORS = 8
RETRY_FOR_S = 120  # --faults: how long a client sends a request again before giving up

# route: arrivals per second at --rate 1 (None: follows another request)
MIX: dict[str, float | None] = {
    "GET /healthz": 1.0,
    "GET /api/v1/communes": 1.0,
    "POST /api/v1/estimations": 1.0,
    "POST /api/v1/estimations/{id}/lead": None,
    "GET /api/v1/leads": 4.0,
    "GET /api/v1/leads/{id}": 2.0,
    "POST /api/v1/leads/{id}/purchase": 1.5,
    "POST /api/v1/purchases/{id}/refund-requests": 0.2,
    "GET /api/v1/refund-requests": 0.15,
    "POST /api/v1/refund-requests/{id}/decision": None,
    "GET /api/v1/transparency": 0.2,
    "GET /metrics": 1 / 15,
}
# The statuses each route may answer under this load; anything else is an error.
EXPECTED = {
    "POST /api/v1/estimations": {201},
    "POST /api/v1/estimations/{id}/lead": {201},
    "POST /api/v1/leads/{id}/purchase": {201, 409},  # 409: sold meanwhile, a lost race
    "POST /api/v1/purchases/{id}/refund-requests": {201},
    "POST /api/v1/refund-requests/{id}/decision": {200, 409},  # 409: another clerk decided
}
# The 409 codes that are races a real user meets; any other 409 is an error.
RACES = {
    "POST /api/v1/leads/{id}/purchase": {"lead_unavailable", "mode_unavailable", "price_changed"},
    "POST /api/v1/refund-requests/{id}/decision": {"already_decided"},
}
REFUND_REASONS = ("not_owner", "unreachable", "fake", "already_sold_or_under_mandate", "other")


# --- the database ---------------------------------------------------------------------------


def prepare(admin: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"creating {BENCH_DB}: migrations, communes, {args.agencies} agencies", flush=True)
    new_database(admin, url, BENCH_DB)
    with unit_of_work(url) as session:
        add_agencies(session, args.agencies)
    print(f"seeding a stock of {args.stock:,} qualified leads", flush=True)
    start = perf_counter_ns()
    make_leads(url, args.stock, np.random.default_rng(args.seed))
    share_half_the_offers(url)
    with unit_of_work(url) as session:
        # The stock's confirmation e-mails are not part of the run.
        session.execute(text("UPDATE outbox SET delivered_at = now()"))
    autocommit(url, "VACUUM ANALYZE")
    return {"stock_s": (perf_counter_ns() - start) / 1e9}


@dataclass(frozen=True)
class Keys:
    buyers: dict[str, str]  # agency id → bearer key
    finance: str


def issue_keys(url: str) -> Keys:
    with unit_of_work(url) as session:
        agencies = session.execute(text("SELECT id FROM agency ORDER BY siret")).scalars().all()
        buyers = {str(a): create_key(session, "buyer", a, "load bench").key for a in agencies}
        finance = create_key(session, "finance", None, "load bench").key
    return Keys(buyers, finance)


def run_origin(url: str) -> datetime:
    with Session(get_engine(url)) as session:
        now: datetime = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    return now


# --- the mail relay -------------------------------------------------------------------------


class Mailbox:
    """Counts the messages the scheduler delivers, per Message-ID (aiosmtpd handler): the outbox
    names each e-mail after its row, so a count above one is an e-mail sent twice."""

    def __init__(self) -> None:
        self.received = 0
        self.by_message: Counter[str] = Counter()

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        headers = BytesHeaderParser().parsebytes(envelope.content)
        self.received += 1
        self.by_message[str(headers.get("Message-ID", ""))] += 1
        return "250 OK"

    def sent_twice(self) -> int:
        return sum(n - 1 for n in self.by_message.values() if n > 1)


class Relay:
    """The SMTP sink on a port of its own, which a fault stops and starts again (same port)."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller: Controller | None = None
        self.back_ns = 0  # when it was started again after being stopped

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


# --- the run --------------------------------------------------------------------------------


@dataclass
class Outcome:
    route: str
    status: int  # 0: transport error
    due_ns: int
    start_ns: int
    end_ns: int
    code: str = ""
    body: str = ""
    lead: str = ""  # the lead asked about, for the offer and purchase routes


@dataclass
class State:
    """What the simulated users know, shared by the threads (under `lock`)."""

    keys: Keys
    rng: np.random.Generator
    lock: threading.Lock = field(default_factory=threading.Lock)
    pages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # agency → last page
    # id, agency, when it was answered
    purchases: list[tuple[str, str, datetime]] = field(default_factory=list)
    asked: set[str] = field(default_factory=set)  # purchases with a refund request
    leads: set[str] = field(default_factory=set)  # lead ids answered to step 2
    estimations: int = 0
    homeowners: int = 0
    no_stock: int = 0
    decisions: Counter[str] = field(default_factory=Counter)

    def draw(self, n: int) -> int:
        with self.lock:
            return int(self.rng.integers(n))

    def uniform(self, low: float, high: float) -> float:
        with self.lock:
            return float(self.rng.uniform(low, high))


class Load:
    """Open-loop arrivals: a dispatcher thread releases each request at its due time into a
    thread pool; follow-ups (step 2, a decision) are scheduled by the request before them."""

    def __init__(self, base: str, state: State, args: argparse.Namespace) -> None:
        self.base, self.state, self.args = base, state, args
        self.outcomes: list[Outcome] = []
        self.attempts_failed: list[tuple[int, str, int, str, str]] = []
        self.crashes: list[str] = []
        self.in_flight: Counter[str] = Counter()  # requests sent and not yet answered, by route
        self.outcomes_lock = threading.Lock()
        self.queue: list[tuple[int, int, Callable[[int], None]]] = []
        self.queue_lock = threading.Condition()
        self.sequence = 0
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(max_workers=args.threads)
        self.agencies = list(state.keys.buyers)

    # -- plumbing --

    def client(self) -> httpx.Client:
        found: httpx.Client | None = getattr(self.local, "client", None)
        if found is None:
            found = httpx.Client(base_url=self.base, timeout=60)
            self.local.client = found
        return found

    def at(self, due_ns: int, action: Callable[[int], None]) -> None:
        with self.queue_lock:
            self.sequence += 1
            heapq.heappush(self.queue, (due_ns, self.sequence, action))
            self.queue_lock.notify()

    def send(
        self,
        route: str,
        due_ns: int,
        method: str,
        path: str,
        key: str | None = None,
        lead: str = "",
        **kwargs: Any,
    ) -> httpx.Response | None:
        headers = kwargs.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        start = perf_counter_ns()
        give_up = start + int(RETRY_FOR_S * 1e9)
        with self.outcomes_lock:
            self.in_flight[route] += 1
        try:
            return self.attempt(route, due_ns, start, give_up, method, path, headers, lead, kwargs)
        finally:
            with self.outcomes_lock:
                self.in_flight[route] -= 1

    def attempt(
        self,
        route: str,
        due_ns: int,
        start: int,
        give_up: int,
        method: str,
        path: str,
        headers: dict[str, str],
        lead: str,
        kwargs: dict[str, Any],
    ) -> httpx.Response | None:
        """Sent until answered (--faults: again after a 503 try_again or a cut connection)."""
        while True:
            try:
                answer = self.client().request(method, path, headers=headers, **kwargs)
            except httpx.HTTPError as error:
                if self.args.faults and perf_counter_ns() < give_up:
                    self.failed(route, 0, "cut", repr(error))
                    time.sleep(0.5)
                    continue
                self.record(
                    Outcome(route, 0, due_ns, start, perf_counter_ns(), body=repr(error), lead=lead)
                )
                return None
            if self.args.faults and answer.status_code == 503 and perf_counter_ns() < give_up:
                try:
                    code = str(answer.json().get("code", ""))
                except ValueError:
                    code = "?"
                self.failed(route, 503, code, answer.text[:300])
                if code == "try_again":
                    time.sleep(min(float(answer.headers.get("Retry-After", "1")), 1.0))
                    continue
            break
        end = perf_counter_ns()
        code, body = "", ""
        if answer.status_code >= 400:
            body = answer.text[:300]
            try:
                code = str(answer.json().get("code", ""))
            except ValueError:
                code = "?"
        self.record(Outcome(route, answer.status_code, due_ns, start, end, code, body, lead))
        return answer

    def crashed(self, future: Any) -> None:
        """A simulated user's step that raised (a bug here, or an answer it could not read)."""
        if future.exception() is not None:
            with self.outcomes_lock:
                self.crashes.append(repr(future.exception()))

    def record(self, outcome: Outcome) -> None:
        with self.outcomes_lock:
            self.outcomes.append(outcome)

    def failed(self, route: str, status: int, code: str, body: str) -> None:
        """An attempt a client sends again (--faults): when, and what it saw."""
        with self.outcomes_lock:
            self.attempts_failed.append((perf_counter_ns(), route, status, code, body))

    def run(self, seconds: float) -> float:
        """Arrivals for `seconds`; returns the wall time until every request has ended."""
        origin = perf_counter_ns()
        end = origin + int(seconds * 1e9)
        rng = np.random.default_rng(self.args.seed + 1)
        actions = {
            "GET /healthz": self.floor,
            "GET /api/v1/communes": self.communes,
            "POST /api/v1/estimations": self.step1,
            "GET /api/v1/leads": self.catalogue,
            "GET /api/v1/leads/{id}": self.offer,
            "POST /api/v1/leads/{id}/purchase": self.purchase,
            "POST /api/v1/purchases/{id}/refund-requests": self.refund_request,
            "GET /api/v1/refund-requests": self.finance_queue,
            "GET /api/v1/transparency": self.transparency,
            "GET /metrics": self.metrics,
        }
        for route, action in actions.items():
            rate = (MIX[route] or 0) * self.args.rate
            due = origin + int(rng.exponential(1 / rate) * 1e9)
            while due < end:
                self.at(due, action)
                due += int(rng.exponential(1 / rate) * 1e9)
        in_flight: list[Any] = []
        while True:
            with self.queue_lock:
                if not self.queue:
                    # Follow-ups may still come from requests in flight.
                    if all(f.done() for f in in_flight):
                        break
                    self.queue_lock.wait(0.05)
                    continue
                due, _, action = self.queue[0]
                wait = (due - perf_counter_ns()) / 1e9
                if wait > 0:
                    self.queue_lock.wait(min(wait, 0.05))
                    continue
                heapq.heappop(self.queue)
            in_flight = [f for f in in_flight if not f.done()]
            future = self.pool.submit(action, due)
            future.add_done_callback(self.crashed)
            in_flight.append(future)
        self.pool.shutdown(wait=True)
        return (perf_counter_ns() - origin) / 1e9

    # -- homeowners --

    def floor(self, due: int) -> None:
        self.send("GET /healthz", due, "GET", "/healthz")

    def communes(self, due: int) -> None:
        postal_code, _ = CITIES[self.state.draw(len(CITIES))]
        self.send("GET /api/v1/communes", due, "GET", f"/api/v1/communes?postal_code={postal_code}")

    def step1(self, due: int) -> None:
        s = self.state
        places = CITIES if s.uniform(0, 1) < 0.9 else ELSEWHERE
        postal_code, city = places[s.draw(len(places))]
        body = {
            "property": {
                "type": ("appartement", "maison")[s.draw(2)],
                "surface_m2": 20 + s.draw(180),
                "rooms": 1 + s.draw(7),
            },
            "address": {"postal_code": postal_code, "city": city},
            "source": "load-bench",
        }
        # Each homeowner from an address of their own (the estimation limit is per address).
        ip = f"10.{s.draw(100)}.{s.draw(256)}.{s.draw(256)}"
        answer = self.send(
            "POST /api/v1/estimations",
            due,
            "POST",
            "/api/v1/estimations",
            json=body,
            headers={"X-Forwarded-For": ip},
        )
        if answer is None or answer.status_code != 201:
            return
        found = answer.json()
        with s.lock:
            s.estimations += 1
        named = [a["id"] for a in found["agencies"]]
        if named and s.uniform(0, 1) < 0.8:
            fill = int(s.uniform(4, 12) * 1e9)  # the time the homeowner takes
            self.at(perf_counter_ns() + fill, lambda d: self.step2(d, found["id"], named))

    def step2(self, due: int, estimation_id: str, named: list[str]) -> None:
        s = self.state
        with s.lock:
            s.homeowners += 1
            n = s.homeowners
            chosen = list(s.rng.permutation(named)[: 1 + int(s.rng.integers(min(3, len(named))))])
        body = {
            "contact": {
                "first_name": "Camille",
                "last_name": f"Soak{n}",
                "email": f"camille.soak{n}@exemple.fr",
                "phone": f"+3367{n:07d}",
            },
            "project": {"timeline": ("asap", "lt_3_months", "3_6_months")[n % 3], "is_owner": True},
            "consent": {"agency_ids": chosen, "text_version": CONSENT_VERSION},
            "website": "",
        }
        ip = f"10.{100 + (n >> 16) % 100}.{(n >> 8) & 255}.{n & 255}"
        answer = self.send(
            "POST /api/v1/estimations/{id}/lead",
            due,
            "POST",
            f"/api/v1/estimations/{estimation_id}/lead",
            json=body,
            headers={"X-Forwarded-For": ip},
        )
        if answer is not None and answer.status_code == 201:
            with s.lock:
                s.leads.add(answer.json()["lead_id"])

    # -- agencies --

    def agency(self) -> tuple[str, str]:
        agency = self.agencies[self.state.draw(len(self.agencies))]
        return agency, self.state.keys.buyers[agency]

    def known_offer(self, agency: str) -> dict[str, Any] | None:
        with self.state.lock:
            page = self.state.pages.get(agency) or []
            if not page:
                self.state.no_stock += 1
                return None
            return page[int(self.state.rng.integers(len(page)))]

    def catalogue(self, due: int) -> None:
        agency, key = self.agency()
        answer = self.send("GET /api/v1/leads", due, "GET", "/api/v1/leads?limit=50", key)
        if answer is not None and answer.status_code == 200:
            with self.state.lock:
                self.state.pages[agency] = answer.json()["items"]

    def offer(self, due: int) -> None:
        agency, key = self.agency()
        item = self.known_offer(agency)
        if item:
            path = f"/api/v1/leads/{item['id']}"
            self.send("GET /api/v1/leads/{id}", due, "GET", path, key, lead=item["id"])

    def purchase(self, due: int) -> None:
        agency, key = self.agency()
        item = self.known_offer(agency)
        if not item:
            return
        body = {"mode": item["mode"], "price_cents": item["price_cents"]}
        answer = self.send(
            "POST /api/v1/leads/{id}/purchase",
            due,
            "POST",
            f"/api/v1/leads/{item['id']}/purchase",
            key,
            lead=item["id"],
            json=body,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        with self.state.lock:
            page = self.state.pages.get(agency) or []
            self.state.pages[agency] = [i for i in page if i["id"] != item["id"]]
            if answer is not None and answer.status_code == 201:
                bought = answer.json()
                answered = datetime.now(UTC)
                self.state.purchases.append((bought["purchase_id"], agency, answered))

    def refund_request(self, due: int) -> None:
        s = self.state
        with s.lock:
            open_ = [p for p in s.purchases if p[0] not in s.asked]
            if not open_:
                return
            purchase, agency, bought_at = open_[int(s.rng.integers(len(open_)))]
            s.asked.add(purchase)
            reason = REFUND_REASONS[int(s.rng.integers(len(REFUND_REASONS)))]
        body: dict[str, Any] = {"reason": reason}
        if reason == "unreachable":
            # Three calls between the purchase and now (in a soak, minutes apart at most).
            since = datetime.now(UTC) - bought_at
            body["call_attempts"] = [(bought_at + since * k / 4).isoformat() for k in (1, 2, 3)]
        if reason == "other":
            body["comment"] = "Le vendeur a déjà signé avec un notaire."
        self.send(
            "POST /api/v1/purchases/{id}/refund-requests",
            due,
            "POST",
            f"/api/v1/purchases/{purchase}/refund-requests",
            s.keys.buyers[agency],
            json=body,
        )

    # -- finance --

    def finance_queue(self, due: int) -> None:
        s = self.state
        answer = self.send(
            "GET /api/v1/refund-requests",
            due,
            "GET",
            "/api/v1/refund-requests?status=pending",
            s.keys.finance,
        )
        if answer is None or answer.status_code != 200 or not answer.json()["items"]:
            return
        items = answer.json()["items"]
        request = items[s.draw(len(items))]
        self.at(perf_counter_ns() + int(s.uniform(1, 5) * 1e9), lambda d: self.decide(d, request))

    def decide(self, due: int, request: dict[str, Any]) -> None:
        s = self.state
        draw = s.uniform(0, 1)
        body: dict[str, Any] = {"decision": "approve", "note": "Vérifié par appel au vendeur."}
        if draw >= 0.8:
            body = {"decision": "reject", "note": "Vendeur joint, projet confirmé."}
        elif draw >= 0.6:
            price = request.get("price_cents") or 0
            if price >= 2:
                body["amount_cents"] = price // 2
        answer = self.send(
            "POST /api/v1/refund-requests/{id}/decision",
            due,
            "POST",
            f"/api/v1/refund-requests/{request['id']}/decision",
            s.keys.finance,
            json=body,
        )
        if answer is not None:
            with s.lock:
                s.decisions[f"{body['decision']}:{answer.status_code}"] += 1

    # -- public --

    def transparency(self, due: int) -> None:
        self.send("GET /api/v1/transparency", due, "GET", "/api/v1/transparency")

    def metrics(self, due: int) -> None:
        self.send("GET /metrics", due, "GET", "/metrics")


# --- faults (--faults) ----------------------------------------------------------------------

PGBOUNCER = "/usr/sbin/pgbouncer"
# Each fault and when it comes, as a share of the run (one after the other, in this order).
FAULTS = (
    ("failover", 0.08),
    ("primary killed", 0.16),
    ("pgbouncer restart", 0.24),
    ("worker killed", 0.32),
    ("backends terminated", 0.40),
    ("stripe down in a billing run", 0.48),
    ("smtp relay down", 0.56),
)
SMTP_DOWN_S = 120  # the relay's outage; at most 40 % of a shorter run
STRIPE_DOWN_S = 15
BILLING_STRIPE_RATE = "4"  # Stripe calls a second in the fault's billing run: ~10 s for 40


class Bouncer:
    """PgBouncer in transaction mode in front of the formation's primary, moved to the new one by
    `follow` (a RELOAD with the new port) as a virtual IP or a read-write HAProxy check would
    move it. Run as the server user: PgBouncer refuses root."""

    def __init__(self, home: Path, node_port: int) -> None:
        self.node_port, self.port = node_port, free_port()
        self.home = home / "pgbouncer"
        self.home.mkdir()
        self.config = self.home / "pgbouncer.ini"
        self.pid_file = self.home / "pgbouncer.pid"
        self.moves: list[tuple[int, int, int]] = []  # when, from, to
        self.write_config()
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")

    def write_config(self) -> None:
        self.config.write_text(f"""\
[databases]
* = host=127.0.0.1 port={self.node_port} user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
server_connect_timeout = 2
server_login_retry = 1
query_wait_timeout = 10
ignore_startup_parameters = extra_float_digits
logfile = {self.home / "pgbouncer.log"}
pidfile = {self.pid_file}
""")
        if os.geteuid() == 0:
            shutil.chown(self.config, "postgres", "postgres")

    def start(self) -> None:
        command = [PGBOUNCER, "-d", "-q", str(self.config)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("PgBouncer did not listen")

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """SIGTERM: PgBouncer's immediate shutdown, every client connection cut."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def follow(self, pair: Any, done: threading.Event) -> None:
        """Every half second: when the node behind PgBouncer no longer takes writes and another
        one does, point PgBouncer at that one (RELOAD: server connections to the old node are
        closed once released)."""
        while not done.wait(0.5):
            if writable(pair, self.node_port):
                continue
            for port in pair.node_ports:
                if port != self.node_port and writable(pair, port):
                    self.moves.append((perf_counter_ns(), self.node_port, port))
                    self.node_port = port
                    self.write_config()
                    pid = self.pid()
                    if pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGHUP)
                    break


def writable(pair: Any, port: int) -> bool:
    try:
        rows = pair.sql(
            port, "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::bool"
        )
    except psycopg.Error:
        return False
    return rows[0][0] is False


def multi_host(ports: list[int], database: str) -> str:
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"


@dataclass
class Fault:
    name: str
    at_s: float  # into the run
    started_ns: int = 0  # the blow itself (a fault may first wait for the formation)
    took_s: float = 0.0
    detail: str = ""


@dataclass
class Targets:
    """What the faults hit."""

    pair: Any
    bouncer: Bouncer
    server: subprocess.Popen[bytes]
    relay: Relay
    stripe: Any  # tests/stripe_proxy.py's proxy in front of localstripe
    load: Load
    url: str  # the bench database on the nodes directly (multi-host, read-write)
    smtp_down_s: float


def inject(targets: Targets, faults: list[Fault], origin_ns: int) -> None:
    """Each fault at its time, one after the other (a thread of its own)."""
    actions: dict[str, Callable[[Targets, Fault], str]] = {
        "failover": fail_over,
        "primary killed": kill_primary,
        "pgbouncer restart": restart_pgbouncer,
        "worker killed": kill_worker,
        "backends terminated": terminate_backends,
        "stripe down in a billing run": stripe_down,
        "smtp relay down": relay_down,
    }
    for fault in faults:
        time.sleep(max(0.0, origin_ns / 1e9 + fault.at_s - perf_counter_ns() / 1e9))
        fault.started_ns = perf_counter_ns()
        try:
            fault.detail = actions[fault.name](targets, fault)
        except Exception as error:  # noqa: BLE001 - the report says it; the run goes on
            fault.detail = f"failed: {error!r}"
        fault.took_s = (perf_counter_ns() - fault.started_ns) / 1e9


def fail_over(t: Targets, fault: Fault) -> str:
    """`pg_autoctl perform failover`: the standby promoted, the old primary rejoins."""
    primary = t.pair.primary_port()
    t.pair.failover()
    return f"primary {primary} → {t.pair.primary_port()}"


def kill_primary(t: Targets, fault: Fault) -> str:
    """`kill -9` of the primary's postmaster (the new one, after the failover), once the
    formation is in sync again; then what happened: the monitor failed over, or the node's
    keeper started PostgreSQL again and it stayed the primary."""
    t.pair.wait_in_sync(60)
    failovers = len(t.pair.failovers())
    port = t.pair.primary_port()
    node = t.pair.home / f"node{t.pair.node_ports.index(port) + 1}"
    postmaster = int((node / "postmaster.pid").read_text().split()[0])
    fault.started_ns = perf_counter_ns()
    os.kill(postmaster, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while not any(writable(t.pair, p) for p in t.pair.node_ports):
        if time.monotonic() > deadline:
            return f"postmaster {postmaster} of {port} killed; no primary after 120 s"
        time.sleep(0.2)
    writes_s = (perf_counter_ns() - fault.started_ns) / 1e9
    now = next(p for p in t.pair.node_ports if writable(t.pair, p))
    how = "failed over" if len(t.pair.failovers()) > failovers else "no failover"
    return (
        f"postmaster {postmaster} of {port} killed; writes on {now} after {writes_s:.1f} s ({how})"
    )


def restart_pgbouncer(t: Targets, fault: Fault) -> str:
    """SIGTERM (every client connection cut), then started again."""
    t.bouncer.stop()
    t.bouncer.start()
    return f"PgBouncer (in front of {t.bouncer.node_port})"


def kill_worker(t: Targets, fault: Fault) -> str:
    """`kill -9` of one of the server's worker processes once a purchase is in flight (it may be
    on the other worker), with the requests it was serving; uvicorn's supervisor starts another."""
    deadline = time.monotonic() + 10
    while not t.load.in_flight["POST /api/v1/leads/{id}/purchase"] and time.monotonic() < deadline:
        time.sleep(0.01)
    in_flight = t.load.in_flight.total()
    workers = server_workers(t.server.pid)
    if not workers:
        raise RuntimeError("no worker process found")
    fault.started_ns = perf_counter_ns()
    os.kill(workers[0], signal.SIGKILL)
    killed = f"worker {workers[0]} of {len(workers)} killed with {in_flight} requests in flight"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = [w for w in server_workers(t.server.pid) if w not in workers]
        if new:
            return f"{killed}; {new[0]} started"
        time.sleep(0.2)
    return f"{killed}; none started within 30 s"


def server_workers(pid: int) -> list[int]:
    """The uvicorn workers under `mandat serve` (spawned: `multiprocessing.spawn`)."""
    found = []
    for child in process_tree(pid)[1:]:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(child)
    return found


def terminate_backends(t: Targets, fault: Fault) -> str:
    primary = next((p for p in t.pair.node_ports if writable(t.pair, p)), None)
    if primary is None:
        raise RuntimeError("no node takes writes")
    rows = t.pair.sql(
        primary,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        f" WHERE datname = '{BENCH_DB}' AND backend_type = 'client backend'",
    )
    return f"{rows[0][0]} backends on {primary}"


def stripe_down(t: Targets, fault: Fault) -> str:
    """A billing run of this month (in this process, as `mandat billing run`, with the month
    taken as ended) whose payments are under way when Stripe becomes unreachable (every
    connection closed unanswered) for `STRIPE_DOWN_S`; the invoices it could not collect wait
    for the next run, which collects them once Stripe is back, under the same idempotency keys."""
    period = datetime.now(PARIS).date().replace(day=1)
    now = period_bounds(period)[1] + timedelta(seconds=1)
    os.environ["MANDAT_STRIPE_RATE"] = BILLING_STRIPE_RATE
    get_engine().dispose()  # connections from before the failovers
    reports: list[RunReport | str] = []

    def bill() -> None:
        try:
            reports.append(run_billing(period, now))
        except Exception as error:  # noqa: BLE001 - the report says it
            reports.append(f"the run raised {error!r}")

    first = threading.Thread(target=bill)
    first.start()
    while len(t.stripe.charges()) < 3 and first.is_alive():
        time.sleep(0.05)
    charged_before = len(t.stripe.charges())
    fault.started_ns = perf_counter_ns()
    t.stripe.down = True
    time.sleep(STRIPE_DOWN_S)
    t.stripe.down = False
    first.join(300)
    if not reports:
        raise RuntimeError("the billing run did not end")
    if not isinstance(reports[0], RunReport) or reports[0].unreachable:
        bill()  # the next run, as finance would ask for once Stripe is back
    runs = "; then ".join(
        r
        if isinstance(r, str)
        else f"{r.invoices} invoices, {r.paid} paid, {r.unreachable} unreachable"
        for r in reports
    )
    return f"Stripe down after {charged_before} charges: {runs}"


def relay_down(t: Targets, fault: Fault) -> str:
    """The SMTP relay stopped for `smtp_down_s`, then started again on the same port: the
    outbox keeps its e-mails and delivers them after it is back (at the backoff's pace)."""
    t.relay.stop()
    time.sleep(t.smtp_down_s)
    waiting = undelivered(t.url)
    t.relay.start()
    t.relay.back_ns = perf_counter_ns()
    return f"down {t.smtp_down_s:.0f} s; {waiting} e-mails waiting when it came back"


@contextlib.contextmanager
def stripe_for_billing(url: str) -> Iterator[Any]:
    """localstripe behind tests/stripe_proxy.py (Stripe's idempotency keys, which localstripe
    ignores, and a switch that makes it unreachable); this process's gateway and billing run
    point at the proxy and at the bench database. Every agency gets a customer, a card that
    pays and its registered address (an invoice names it)."""
    from billing import localstripe

    from tests.stripe_proxy import stripe_proxy

    os.environ["DATABASE_URL"] = url
    with localstripe(stock=True), stripe_proxy(os.environ["STRIPE_API_BASE"]) as proxy:
        os.environ["STRIPE_API_BASE"] = proxy.base
        with unit_of_work(url) as session:
            agencies = session.execute(text("SELECT id, name, email FROM agency")).all()
            for agency in agencies:
                customer = gateway.create_customer(str(agency.id), agency.name, agency.email)
                card = gateway.attach_payment_method(customer, "pm_card_visa")
                session.execute(
                    text("""
                        UPDATE agency SET stripe_customer_id = :c, stripe_payment_method_id = :m,
                            registered_street = '1 place de la Mairie',
                            registered_postcode = '75001', registered_city = 'Paris'
                        WHERE id = :id
                    """),
                    {"c": customer, "m": card, "id": agency.id},
                )
        yield proxy


def charged_twice(proxy: Any) -> int:
    """Invoices with more than one succeeded PaymentIntent at Stripe (localstripe's own)."""
    per_invoice: Counter[str] = Counter()
    after: str | None = None
    while True:
        page = httpx.get(
            f"{proxy.upstream}/v1/payment_intents",
            params={"limit": 100, **({"starting_after": after} if after else {})},
            headers={"Authorization": f"Bearer {os.environ['STRIPE_API_KEY']}"},
            timeout=30,
        ).json()
        for intent in page["data"]:
            if intent["status"] == "succeeded":
                per_invoice[(intent.get("metadata") or {}).get("invoice_id", "?")] += 1
        if not page.get("has_more"):
            return sum(1 for n in per_invoice.values() if n > 1)
        after = page["data"][-1]["id"]


BILLING = {
    "billing runs not finished": "SELECT count(*) FROM billing_run WHERE finished_at IS NULL",
    "invoices left open (not collected)": "SELECT count(*) FROM invoice WHERE status = 'open'",
    "invoices with more than one succeeded attempt": """
        SELECT count(*) FROM (SELECT invoice_id FROM payment_attempt
                              WHERE status = 'succeeded' GROUP BY 1 HAVING count(*) > 1) twice""",
}


def undelivered(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL"
        ).fetchone()
    return int(row[0]) if row else 0


def fault_figures(load: Load, faults: list[Fault]) -> list[dict[str, Any]]:
    """Per fault, the attempts that failed from it to the next one, and the time to recover."""
    ends = [f.started_ns for f in faults[1:]] + [2**63]
    figures_ = []
    before = [a for a in load.attempts_failed if a[0] < faults[0].started_ns]
    if before:
        figures_.append({"fault": "(before any fault)", "failed_attempts": len(before)})
    for fault, end in zip(faults, ends, strict=True):
        seen = [a for a in load.attempts_failed if fault.started_ns <= a[0] < end]
        finals = [
            o for o in load.outcomes if fault.started_ns <= o.end_ns < end and o.status >= 500
        ]
        kinds = Counter(
            "cut connection" if status == 0 else f"{status} {code or '?'}"
            for _, _, status, code, _ in seen
        )
        last = max((a[0] for a in seen), default=fault.started_ns)
        figures_.append(
            {
                "fault": fault.name,
                "at_s": fault.at_s,
                "detail": fault.detail,
                "fault_took_s": round(fault.took_s, 1),
                "failed_attempts_sent_again": dict(kinds),
                "purchases_sent_again": sum(
                    1 for a in seen if a[1] == "POST /api/v1/leads/{id}/purchase"
                ),
                "other_errors_answered": len(finals),
                "seconds_to_recover": round((last - fault.started_ns) / 1e9, 1),
            }
        )
    return figures_


# --- after the run --------------------------------------------------------------------------

LEDGER = {
    "agencies whose ledger is not purchases minus approved refunds": """
        SELECT count(*) FROM agency a
        WHERE (SELECT coalesce(sum(amount_cents), 0) FROM ledger_line l WHERE l.agency_id = a.id)
           <> (SELECT coalesce(sum(price_cents), 0) FROM purchase p WHERE p.agency_id = a.id)
            - (SELECT coalesce(sum(approved_amount_cents), 0) FROM refund_request r
               WHERE r.agency_id = a.id AND r.status = 'approved')""",
    "refund lines that are not an approved request's amount": """
        SELECT count(*) FROM ledger_line l
        WHERE l.kind = 'refund' AND NOT EXISTS (
            SELECT 1 FROM refund_request r WHERE r.ledger_line_id = l.id
               AND r.status = 'approved' AND -l.amount_cents = r.approved_amount_cents)""",
    "approved requests without their ledger line": """
        SELECT count(*) FROM refund_request r
        WHERE r.status = 'approved' AND r.ledger_line_id IS NULL""",
    "purchases refunded beyond their price": """
        SELECT count(*) FROM purchase p
        WHERE (SELECT coalesce(-sum(amount_cents), 0) FROM ledger_line l
               WHERE l.purchase_id = p.id AND l.kind = 'refund') > p.price_cents""",
    "refund requests of this run without their answer (or the reverse)": """
        SELECT abs(count(*) - :requests) FROM refund_request""",
}


def unexpected(outcomes: list[Outcome], withdrawn: set[str]) -> list[Outcome]:
    """Answers below 500 that the route should not give. A 404 on an offer is expected only
    when the lead was withdrawn (refunded as fake, wrong number or duplicate) during the run. A
    409 `already_purchased` is an agency's second request for a lead it was answered 201 for
    (its page is updated once the first is answered, seconds later when a fault makes it retry);
    that no purchase row is left without its 201 answer is checked apart."""
    bought = {
        o.lead
        for o in outcomes
        if o.route == "POST /api/v1/leads/{id}/purchase" and o.status == 201
    }
    return [
        o
        for o in outcomes
        if 0 < o.status < 500
        and (
            o.status not in EXPECTED.get(o.route, {200})
            or (o.status == 409 and o.code not in RACES.get(o.route, set()))
        )
        and not (o.status == 404 and o.code == "lead_not_found" and o.lead in withdrawn)
        and not (o.code == "already_purchased" and o.lead in bought)
    ]


def check(url: str, load: Load, origin: datetime, samples: list[str]) -> dict[str, int]:
    """Violations per check: all must be 0 (a few offending answers go to `samples`)."""
    outcomes, s = load.outcomes, load.state
    found: dict[str, int] = {}
    found["client steps that raised"] = len(load.crashes)
    samples.extend(load.crashes[:SHOWN_ERRORS])
    found["5xx answers"] = sum(1 for o in outcomes if o.status >= 500)
    found["transport errors (no answer)"] = sum(1 for o in outcomes if o.status == 0)
    with Session(get_engine(url)) as session:
        withdrawn = set(
            session.execute(
                text("SELECT lead_id::text FROM offer WHERE withdrawn_at IS NOT NULL")
            ).scalars()
        )
    odd = [o for o in outcomes if o.status == 0 or o.status >= 500]
    odd += unexpected(outcomes, withdrawn)
    found["unexpected statuses (other 4xx, 409 not a race)"] = (
        len(odd) - found["5xx answers"] - found["transport errors (no answer)"]
    )
    samples.extend(f"{o.route} {o.status} {o.body}" for o in odd[:SHOWN_ERRORS])
    purchases_201 = sum(
        1 for o in outcomes if o.route == "POST /api/v1/leads/{id}/purchase" and o.status == 201
    )
    requests_201 = sum(
        1
        for o in outcomes
        if o.route == "POST /api/v1/purchases/{id}/refund-requests" and o.status == 201
    )
    with Session(get_engine(url)) as session:
        found.update(
            {name: session.execute(text(sql)).scalar_one() for name, sql in INVARIANTS.items()}
        )
        found.update(
            {
                name: session.execute(text(sql), {"requests": requests_201}).scalar_one()
                for name, sql in LEDGER.items()
            }
        )
        stored = set(
            session.execute(
                text("SELECT id::text FROM lead WHERE created_at >= :origin"), {"origin": origin}
            ).scalars()
        )
        found["leads answered 201 without a row (lost)"] = len(s.leads - stored)
        found["leads of this run never answered"] = len(stored - s.leads)
        rows = session.execute(
            text("SELECT id::text FROM purchase WHERE created_at >= :origin"), {"origin": origin}
        ).scalars()
        bought = Counter(rows)
        answered = Counter(p[0] for p in s.purchases)
        found["purchases answered 201 without a row (lost)"] = len(answered - bought)
        found["purchases of this run never answered 201 (made twice?)"] = len(bought - answered)
        found["purchases answered 201 twice"] = sum(n - 1 for n in answered.values() if n > 1)
        found["purchases answered 201 minus purchase rows"] = abs(purchases_201 - bought.total())
        found["notifications not delivered"] = session.execute(
            text("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
        ).scalar_one()
    return found


def drain_outbox(url: str, limit_s: float = 60) -> float:
    """Waits for the scheduler to deliver the outbox; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        with Session(get_engine(url)) as session:
            pending = session.execute(
                text("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
            ).scalar_one()
        if not pending:
            break
        time.sleep(1)
    return time.monotonic() - start


def figures(load: Load, wall: float) -> dict[str, Any]:
    by_route: dict[str, list[Outcome]] = defaultdict(list)
    for o in load.outcomes:
        by_route[o.route].append(o)
    floor = percentiles(np.array([(o.end_ns - o.start_ns) / 1e6 for o in by_route["GET /healthz"]]))
    routes = {}
    for route in MIX:
        done = by_route.get(route, [])
        service = percentiles(np.array([(o.end_ns - o.start_ns) / 1e6 for o in done]))
        from_due = percentiles(np.array([(o.end_ns - o.due_ns) / 1e6 for o in done]))
        lag = percentiles(np.array([(o.start_ns - o.due_ns) / 1e6 for o in done]))
        routes[route] = {
            "requests": len(done),
            "per_s": len(done) / wall,
            "statuses": dict(sorted(Counter(str(o.status) for o in done).items())),
            "codes": dict(Counter(o.code for o in done if o.code)),
            "ms": service,
            "ms_from_due": from_due,
            "lag_ms": lag,
            "p99_over_floor_p99": service["p99"] / floor["p99"] if service and floor else None,
        }
    origin = min(o.due_ns for o in load.outcomes)
    minutes: dict[str, list[dict[str, Any]]] = {}
    for route in ("POST /api/v1/leads/{id}/purchase", "GET /api/v1/leads", "GET /healthz"):
        per_minute: dict[int, list[float]] = defaultdict(list)
        for o in by_route.get(route, []):
            per_minute[(o.start_ns - origin) // 60_000_000_000].append(
                (o.end_ns - o.start_ns) / 1e6
            )
        minutes[route] = [
            {"minute": m + 1, **(percentiles(np.array(v)) or {})}
            for m, v in sorted(per_minute.items())
        ]
    return {
        "wall_s": wall,
        "requests": len(load.outcomes),
        "requests_per_s": len(load.outcomes) / wall,
        "routes": routes,
        "per_minute": minutes,
        "users": {
            "step1_answered": load.state.estimations,
            "homeowners_sent_step2": load.state.homeowners,
            "leads_answered": len(load.state.leads),
            "purchases_answered": len(load.state.purchases),
            "refund_requests_sent": len(load.state.asked),
            "decisions": dict(load.state.decisions),
            "purchase_or_read_without_known_offer": load.state.no_stock,
        },
    }


def rss_mb(pid: int) -> float:
    total = 0
    for child in process_tree(pid):
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def sample_rss(pid: int, into: list[float], done: threading.Event) -> None:
    """The server's memory (all its processes) every 30 s: a soak shows a leak as a slope."""
    into.append(rss_mb(pid))
    while not done.wait(30):
        into.append(rss_mb(pid))


def lead_statuses(url: str, origin: datetime) -> dict[str, int]:
    with Session(get_engine(url)) as session:
        rows = session.execute(
            text("SELECT status, count(*) FROM lead WHERE created_at >= :o GROUP BY 1"),
            {"o": origin},
        ).tuples()
        return dict(rows.all())


# --- output ---------------------------------------------------------------------------------


def ms(found: dict[str, float] | None, key: str) -> str:
    return "-" if not found else f"{found[key]:.1f}"


def table(result: dict[str, Any]) -> None:
    r = result["run"]
    print(
        f"\n{r['requests']:,} requests in {r['wall_s']:.0f} s ({r['requests_per_s']:.1f}/s), "
        f"CPUs {result['machine']['busy']:.0%} busy, server RSS "
        f"{result['server_rss_mb']['start']:.0f} → {result['server_rss_mb']['end']:.0f} MiB "
        f"(every 30 s: {' '.join(f'{m:.0f}' for m in result['server_rss_mb']['every_30s'])})"
    )
    print(f"{'route':46}{'n':>7}{'/s':>7}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}"
          f"{'p99 due':>9}{'×floor':>8}  statuses")  # fmt: skip
    for route, f in r["routes"].items():
        ratio = f["p99_over_floor_p99"]
        print(
            f"{route:46}{f['requests']:>7}{f['per_s']:>7.2f}{ms(f['ms'], 'median'):>8}"
            f"{ms(f['ms'], 'p90'):>8}{ms(f['ms'], 'p99'):>8}{ms(f['ms'], 'max'):>8}"
            f"{ms(f['ms_from_due'], 'p99'):>9}{'-' if ratio is None else f'{ratio:.1f}':>8}"
            f"  {f['statuses']} {f['codes'] or ''}"
        )
    print("\nper minute, p50 / p99 ms:")
    for route, minutes in r["per_minute"].items():
        cells = "  ".join(f"{m['median']:.0f}/{m['p99']:.0f}" for m in minutes if m.get("n"))
        print(f"  {route:40} {cells}")
    print(f"\nusers: {r['users']}")
    print(f"leads of this run by status: {result['leads_by_status']}")
    print(f"outbox drained in {result['outbox_drain_s']:.1f} s after the run; "
          f"{result['mails_received']} e-mails received by the SMTP sink")  # fmt: skip
    if "outbox_drained_after_relay_back_s" in result:
        print(f"outbox drained {result['outbox_drained_after_relay_back_s']:.1f} s after the "
              "SMTP relay came back")  # fmt: skip
    print()
    for name, value in result["invariants"].items():
        print(f"{'check: ' + name:86}{value:>6}")
    for sample in result["error_samples"]:
        print(f"  error: {sample}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, help="length of the run (10; --faults: 5)")
    parser.add_argument("--rate", type=float, help="multiplies every arrival rate (3; --faults: 1)")
    parser.add_argument("--agencies", type=int, default=40, help="agencies, over 4 cities")
    parser.add_argument(
        "--stock", type=int, help="qualified leads at the start (1500; --faults: 300)"
    )
    parser.add_argument("--threads", type=int, default=48, help="client threads (connections)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help=f"keep {BENCH_DB} afterwards")
    parser.add_argument(
        "--faults", action="store_true", help="on a failover pair behind PgBouncer, with faults"
    )
    args = parser.parse_args()
    for name, soak, faulty in (("minutes", 10, 5), ("rate", 3.0, 1.0), ("stock", 1500, 300)):
        if getattr(args, name) is None:
            setattr(args, name, faulty if args.faults else soak)
    results, server_log, scheduler_log = RESULTS, SERVER_LOG, SCHEDULER_LOG
    pair: Any = None
    bouncer: Bouncer | None = None
    done = threading.Event()
    if args.faults:
        sys.path.insert(0, str(ROOT))  # the fault tests' formation
        from tests.faults.pair import FailoverPair

        results = RESULTS.with_name("load-faults.json")
        server_log = SERVER_LOG.with_name("load-faults-server.log")
        scheduler_log = SCHEDULER_LOG.with_name("load-faults-scheduler.log")
        print("forming a pg_auto_failover pair (monitor, primary, standby)", flush=True)
        pair = FailoverPair()
        pair.start()
        bouncer = Bouncer(pair.home, pair.primary_port())
        bouncer.start()
        threading.Thread(target=bouncer.follow, args=(pair, done), daemon=True).start()
        os.environ["DATABASE_URL"] = pair.url
    try:
        run(args, results, server_log, scheduler_log, pair, bouncer)
    finally:
        done.set()
        if bouncer is not None:
            bouncer.stop()
        if pair is not None:
            pair.keep_logs(results.parent / "load-faults-pair")
            pair.stop()


def run(
    args: argparse.Namespace,
    results: Path,
    server_log: Path,
    scheduler_log: Path,
    pair: Any,
    bouncer: Bouncer | None,
) -> None:
    admin, url = bench_urls(BENCH_DB)
    result: dict[str, Any] = {"config": vars(args), "mix_per_s": MIX}
    relay = Relay()
    relay.start()
    env = {
        "MANDAT_TRUSTED_PROXIES": "127.0.0.1",
        "SMTP_URL": relay.url,
    }
    # One secret for this process (which issues the API keys and signs the stock's links) and
    # the server's: a key is checked against an HMAC made with it.
    os.environ.setdefault("MANDAT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    env["MANDAT_SECRET_KEY"] = os.environ["MANDAT_SECRET_KEY"]
    served_url = plain(url)
    faults: list[Fault] = []
    if pair is not None and bouncer is not None:
        # Requests through PgBouncer; the scheduler's lock and migrations to the nodes.
        served_url = f"postgresql://postgres@127.0.0.1:{bouncer.port}/{BENCH_DB}"
        env["MANDAT_DB_PREPARE"] = "0"
        env["MANDAT_DIRECT_DATABASE_URL"] = multi_host(pair.node_ports, BENCH_DB)
        seconds = args.minutes * 60
        faults = [Fault(name, seconds * share) for name, share in FAULTS]
    scheduler = None
    stack = contextlib.ExitStack()
    try:
        result["seeding"] = prepare(admin, url, args)
        keys = issue_keys(url)
        stripe = stack.enter_context(stripe_for_billing(url)) if faults else None
        scheduler_log.parent.mkdir(parents=True, exist_ok=True)
        with scheduler_log.open("wb") as log:
            scheduler = subprocess.Popen(
                [sys.executable, "-m", "mandat.cli", "scheduler"],
                cwd=ROOT,
                env={**os.environ, "DATABASE_URL": served_url, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        print(f"serving with {args.workers} workers; {args.minutes} minutes at rate "
              f"{args.rate}", flush=True)  # fmt: skip
        with server(served_url, args.workers, server_log, env) as (base, process):
            origin = run_origin(url)
            state = State(keys, np.random.default_rng(args.seed))
            load = Load(base, state, args)
            rss: list[float] = []
            sampling = threading.Event()
            sampler = threading.Thread(
                target=sample_rss, args=(process.pid, rss, sampling), daemon=True
            )
            sampler.start()
            ticks = machine_ticks()
            if faults:
                targets = Targets(
                    pair,
                    bouncer,
                    process,
                    relay,
                    stripe,
                    load,
                    multi_host(pair.node_ports, BENCH_DB),
                    min(SMTP_DOWN_S, 0.4 * args.minutes * 60),
                )
                injector = threading.Thread(
                    target=inject, args=(targets, faults, perf_counter_ns()), daemon=True
                )
                injector.start()
            wall = load.run(args.minutes * 60)
            if faults:
                injector.join()
                get_engine(url).dispose()  # this process's connections went with the faults
            sampling.set()
            sampler.join()
            result["machine"] = {"busy": busy_share(ticks, machine_ticks()), "cpus": os.cpu_count()}
            end_rss = rss_mb(process.pid)
            result["server_rss_mb"] = {"start": rss[0], "end": end_rss, "every_30s": rss}
            # After the relay's outage, an e-mail that failed waits out its backoff (30 s,
            # 60 s, 120 s… after each failure): up to about the outage again.
            result["outbox_drain_s"] = drain_outbox(url, 60 + 2 * SMTP_DOWN_S * bool(faults))
            if faults and relay.back_ns:
                result["outbox_drained_after_relay_back_s"] = round(
                    (perf_counter_ns() - relay.back_ns) / 1e9, 1
                )
        result["run"] = figures(load, wall)
        result["leads_by_status"] = lead_statuses(url, origin)
        result["mails_received"] = relay.mailbox.received
        result["error_samples"] = []
        result["invariants"] = check(url, load, origin, result["error_samples"])
        if faults:
            result["faults"] = fault_figures(load, faults)
            found = result["invariants"]
            found["e-mails received more than once (same outbox row)"] = relay.mailbox.sent_twice()
            with Session(get_engine(url)) as session:
                found.update(
                    {name: session.execute(text(sql)).scalar_one() for name, sql in BILLING.items()}
                )
            found["invoices charged more than once at Stripe"] = charged_twice(stripe)
            found["attempts answered 503 other than try_again"] = sum(
                1 for a in load.attempts_failed if a[2] == 503 and a[3] != "try_again"
            )
            result["error_samples"] += [
                f"{a[1]} {a[2]} {a[4]}" for a in load.attempts_failed if a[2] == 503
            ][:SHOWN_ERRORS]
    finally:
        if scheduler is not None:
            stop(scheduler)
        relay.stop()
        stack.close()
        get_engine(url).dispose()
        if not args.keep and pair is None:
            drop_database(admin, BENCH_DB)
    table(result)
    for fault in result.get("faults", []):
        print(f"fault: {fault}")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written to {results}")
    violations = sum(result["invariants"].values())
    if violations:
        print(f"FAILED: {violations} invariant violations")
        sys.exit(1)


if __name__ == "__main__":
    main()
