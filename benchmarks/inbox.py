"""Espace Pro benchmark: the lead inbox and the contact page rendered over HTTP, beside the
`/healthz` floor measured in the same run.

Drops and recreates the database `mandat_inbox_bench` on the server of DATABASE_URL (else the
project-local cluster), migrates it and loads the communes. It seeds `--agencies` demo agencies
spread like the population (`seed_agencies`, 35,000 by default) and a month of leads in
set-based SQL (`--leads-per-day` × `--days`, 10,000 × 30 by default: the scaling notes' lower
scenario): per lead an estimation, a qualified lead placed near an agency's office drawn at
random, its consent to the `--consents` agencies nearest to it (a KNN scan of the agencies'
zone centres) and its offer, at instants spread over the month: every offer of the last
`offer_days` is still on sale (exclusive for the last day's, shared before). The offers'
notification triggers are disabled during the seeding (nobody listens) and enabled after.
`--scale` multiplies the agencies and the leads (0.1 for a quick run).

Measured agencies: the `--busy` agencies with the most open offers (the worst inboxes) and
`--typical` active agencies drawn at random among those with at least one. Each gets a buyer
(`add_person`), a signed-in session (`open_session`, no password round trip) and three
purchases made with the engine's own service (`buy_lead`), whose contact pages are read.

It starts `mandat serve` (`--workers`, 2) with MANDAT_ENV=development (the session cookie
without Secure over plain HTTP) and runs `--clients` threads, one keep-alive `httpx.Client` each,
for `--seconds`: each request is drawn at random among the three kinds, in equal shares —
`GET /healthz` (the floor: routing, middleware, one `SELECT 1`), `GET /pro/leads` of a measured
agency (the first page, 25 cards, newest first) and `GET /pro/contacts/{id}` of one of its
purchases — so the three see the same load. Latencies are the client's (`perf_counter_ns`),
p50/p90/p99 per kind, and the inbox apart for busy and typical agencies. A request that is not
200 is an error: any exits 1.

The table is printed and written to benchmarks/results/inbox.json; the server's log goes to
benchmarks/results/inbox-server.log.

Run: .venv/bin/python benchmarks/inbox.py [--agencies 35000] [--leads-per-day 10000]
     [--days 30] [--consents 4] [--scale 1] [--busy 10] [--typical 30] [--clients 4]
     [--seconds 30] [--workers 2] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
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
    percentiles,
    plain,
    seeded_with,
    server,
)
from sqlalchemy import text

from engine.db import get_engine, unit_of_work
from engine.demo.seed import seed_agencies
from engine.people.service import add_person
from engine.people.sessions import open_session
from engine.sales.buy import PurchaseRequest
from engine.sales.flows import buy_lead, read_offer

BENCH_DB = "mandat_inbox_bench"
RESULTS = Path(__file__).resolve().parent / "results" / "inbox.json"
SERVER_LOG = RESULTS.parent / "inbox-server.log"
PASSWORD = "benchmark password, long enough"  # noqa: S105 (made-up buyers)
CONTACTS_PER_AGENCY = 3

# Per lead: ids, an agency's office nearby (drawn by a multiplicative hash of n) with a jitter
# of up to ~1 km, and an instant spread evenly over the month (golden-ratio sequence).
_AGENCIES = """
    CREATE TEMP TABLE bench_agency ON COMMIT DROP AS
    SELECT row_number() OVER (ORDER BY id) - 1 AS k, office, office_commune_code AS commune
    FROM agency WHERE office_commune_code IS NOT NULL
"""
_LEADS = """
    CREATE TEMP TABLE bench_lead ON COMMIT DROP AS
    SELECT n, gen_random_uuid() AS estimation_id, gen_random_uuid() AS lead_id, a.commune,
           ST_Project(a.office, 1000 * ((n * 0.7548776662466927) % 1),
                      radians(360 * ((n * 0.5698402909980532) % 1))) AS point,
           clock_timestamp() - CAST(:days AS float8) * interval '1 day'
               * ((n * 0.6180339887498949) % 1) AS at
    FROM generate_series(1, CAST(:leads AS bigint)) AS g(n)
    JOIN bench_agency a ON a.k = (n * 7919) % (SELECT count(*) FROM bench_agency)
"""
_INSERTS = {
    "estimation": """
        INSERT INTO estimation (id, created_at, source, property_type, surface_m2, property,
                                postal_code, commune_code, location, location_precision,
                                estimate, candidates, matching_rules)
        SELECT b.estimation_id, b.at - interval '10 minutes', 'bench',
               (ARRAY['appartement', 'maison'])[(1 + n % 2)::int], 40 + n % 120,
               jsonb_build_object('type', (ARRAY['appartement', 'maison'])[(1 + n % 2)::int],
                                  'surface_m2', 40 + n % 120, 'rooms', 1 + n % 6),
               coalesce(pc.postal_code, '00000'), b.commune, b.point, 'commune',
               jsonb_build_object('low_eur', 180000 + n % 90000, 'mid_eur', 200000 + n % 90000,
                                  'high_eur', 220000 + n % 90000, 'confidence', 'medium',
                                  'synthetic', true),
               '[]', '{}'
        FROM bench_lead b
        LEFT JOIN (SELECT commune_code, min(postal_code) AS postal_code FROM postal_code
                   GROUP BY commune_code) pc ON pc.commune_code = b.commune
        ORDER BY b.at
    """,
    "lead": """
        INSERT INTO lead (id, estimation_id, created_at, commune_code, first_name, last_name,
                          email, phone_e164, timeline, is_owner, status, score, grade,
                          score_reasons, quarantine_reasons, dedupe_until,
                          consent_text_version, consented_at, user_agent, rules)
        SELECT lead_id, estimation_id, at, commune, 'Bench', 'Vendeur' || n,
               'bench' || n || '@exemple.fr', '+336' || lpad(n::text, 8, '0'),
               (ARRAY['asap', 'lt_3_months', '3_6_months'])[(1 + n % 3)::int], true, 'qualified',
               80 - n % 40, (ARRAY['A', 'B', 'C'])[(1 + n % 3)::int], '[]', '[]',
               at + interval '90 days', :consent, at, 'bench', '{}'
        FROM bench_lead ORDER BY at
    """,
    "lead_consent": """
        INSERT INTO lead_consent (lead_id, agency_id, rank, agency_name, distance_m, reach,
                                  ticked_via)
        SELECT b.lead_id, a.id, a.rank, a.name, a.distance_m, 'zone', 'declared'
        FROM bench_lead b
        CROSS JOIN LATERAL (
            SELECT id, name, row_number() OVER () AS rank,
                   ST_Distance(zone_center, b.point) AS distance_m
            FROM (SELECT id, name, zone_center FROM agency
                  ORDER BY zone_center <-> b.point LIMIT :consents) nearest
        ) a
    """,
    "offer": """
        INSERT INTO offer (lead_id, created_at, exclusive_until, expires_at, shared_cap,
                           exclusive_price_cents, shared_price_cents, price_grid_version,
                           price_factors)
        SELECT lead_id, at, at + :exclusive, at + :offer_days, 3,
               6000 + (n * 7919) % 6000, 2000 + (n * 7919) % 3000, :grid, '{}'
        FROM bench_lead ORDER BY at
    """,
}
_TRIGGERS = ("offer_opened", "offer_changed")


def marker(args: argparse.Namespace) -> str:
    return (
        f"inbox bench: agencies={args.agencies} leads={args.leads} consents={args.consents} "
        f"seed={args.seed}"
    )


def seed(url: str, args: argparse.Namespace) -> dict[str, float]:
    """The agencies, then a month of leads table by table; seconds per step."""
    times: dict[str, float] = {}
    t0 = perf_counter_ns()
    with unit_of_work(url) as session:
        seed_agencies(session, args.agencies, seed=args.seed)
    times["agencies"] = (perf_counter_ns() - t0) / 1e9
    print(f"  {args.agencies:,} agencies: {times['agencies']:.1f} s", flush=True)
    with unit_of_work(url) as session:
        for trigger in _TRIGGERS:  # nobody listens while seeding
            session.execute(text(f"ALTER TABLE offer DISABLE TRIGGER {trigger}"))
        settings = dict(session.execute(text("SELECT key, value FROM setting")).tuples().all())
        params = {
            "consent": session.execute(text("SELECT min(version) FROM consent_text")).scalar(),
            "grid": session.execute(text("SELECT max(version) FROM price_grid")).scalar(),
            "exclusive": f"{float(settings.get('exclusive_window_hours', 24))} hours",
            "offer_days": f"{float(settings.get('offer_days', 30))} days",
            "consents": args.consents,
        }
        t0 = perf_counter_ns()
        session.execute(text(_AGENCIES))
        session.execute(text("CREATE UNIQUE INDEX ON bench_agency (k)"))
        session.execute(text(_LEADS), {"leads": args.leads, "days": args.days})
        session.execute(text("ANALYZE bench_lead"))
        times["plan"] = (perf_counter_ns() - t0) / 1e9
        for table, sql in _INSERTS.items():
            t0 = perf_counter_ns()
            session.execute(text(sql), params)
            times[table] = (perf_counter_ns() - t0) / 1e9
            print(f"  {table}: {times[table]:.1f} s", flush=True)
        for trigger in _TRIGGERS:
            session.execute(text(f"ALTER TABLE offer ENABLE TRIGGER {trigger}"))
    autocommit(url, "VACUUM ANALYZE")
    return times


_OPEN_BY_AGENCY = """
    SELECT lc.agency_id, count(*) AS open_offers
    FROM lead_consent lc JOIN offer o ON o.lead_id = lc.lead_id
    JOIN agency a ON a.id = lc.agency_id AND NOT a.paused AND a.status = 'active'
    WHERE o.expires_at > now() AND o.exclusive_buyer IS NULL AND o.withdrawn_at IS NULL
      AND lc.withdrawn_at IS NULL
    GROUP BY lc.agency_id
"""


def measured_agencies(url: str, busy: int, typical: int, rng: random.Random) -> dict[str, Any]:
    with unit_of_work(url) as session:
        rows = session.execute(text(_OPEN_BY_AGENCY)).tuples().all()
    rows.sort(key=lambda r: -r[1])
    chosen_busy = rows[:busy]
    rest = rows[busy:]
    chosen_typical = rng.sample(rest, min(typical, len(rest)))
    opens = np.array([r[1] for r in rows])
    return {
        "busy": chosen_busy,
        "typical": chosen_typical,
        "open_offers_per_agency": {
            "agencies_with_offers": len(rows),
            "median": float(np.median(opens)) if len(opens) else 0,
            "p99": float(np.percentile(opens, 99)) if len(opens) else 0,
            "max": int(opens.max()) if len(opens) else 0,
        },
    }


def people(url: str, agencies: list[tuple[uuid.UUID, int]]) -> list[dict[str, Any]]:
    """A signed-in buyer per agency and three purchases each (the engine's purchase)."""
    from engine.sales.catalogue import CatalogueQuery
    from engine.sales.flows import browse_catalogue

    found = []
    for n, (agency_id, open_offers) in enumerate(agencies):
        email = f"bench.buyer.{agency_id}@agence.example"
        with unit_of_work(url) as session:
            user_id = session.execute(
                text("SELECT id FROM agency_user WHERE email = :e"), {"e": email}
            ).scalar()
        if user_id is None:  # (a database kept from an earlier run has them)
            add_person(agency_id, email, f"Acheteur {n}", "buyer", PASSWORD)
        with unit_of_work(url) as session:
            user_id = session.execute(
                text("SELECT id FROM agency_user WHERE email = :e"), {"e": email}
            ).scalar_one()
            token = open_session(session, user_id, "127.0.0.1", "bench")
        from engine.accounts.keys import Principal

        caller = Principal(None, "buyer", agency_id, user_id)
        page = browse_catalogue(caller, CatalogueQuery(limit=CONTACTS_PER_AGENCY + 5))
        contacts = []
        for offer in page.items[-CONTACTS_PER_AGENCY:]:
            detail = read_offer(caller, offer.id)
            answer = buy_lead(
                caller, PurchaseRequest(offer.id, detail.mode, detail.price_cents, None)
            )
            contacts.append(str(answer.receipt.purchase_id))
        found.append(
            {"agency_id": str(agency_id), "open_offers": open_offers, "token": token,
             "contacts": contacts}
        )  # fmt: skip
    return found


class Tally:
    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def add(self, kind: str, ms: float) -> None:
        with self.lock:
            self.ms.setdefault(kind, []).append(ms)


def client_loop(
    base: str, measured: list[dict[str, Any]], tally: Tally, until: float, seed: int
) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=60) as client:
        while time.monotonic() < until:
            who = rng.choice(measured)
            kind = rng.choice(("healthz", "inbox", "contact"))
            if kind == "healthz":
                path, cookies = "/healthz", None
            elif kind == "inbox":
                path, cookies = "/pro/leads", {"mandat_pro": who["token"]}
            else:
                path = f"/pro/contacts/{rng.choice(who['contacts'])}"
                cookies = {"mandat_pro": who["token"]}
            client.cookies.clear()
            t0 = perf_counter_ns()
            answer = client.get(path, cookies=cookies)
            elapsed = (perf_counter_ns() - t0) / 1e6
            if answer.status_code != 200 or (kind != "healthz" and "<main" not in answer.text):
                tally.errors.append(f"{path} {answer.status_code}")
                continue
            label = kind if kind != "inbox" else f"inbox_{who['group']}"
            tally.add(kind, elapsed)
            if kind == "inbox":
                tally.add(label, elapsed)


def run(base: str, measured: list[dict[str, Any]], args: argparse.Namespace) -> Tally:
    tally = Tally()
    warm = Tally()  # every page once, uncounted: caches and prepared statements
    for who in measured:
        client_loop_once(base, who, warm)
    until = time.monotonic() + args.seconds
    threads = [
        threading.Thread(target=client_loop, args=(base, measured, tally, until, args.seed + i))
        for i in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def client_loop_once(base: str, who: dict[str, Any], tally: Tally) -> None:
    with httpx.Client(base_url=base, timeout=60, cookies={"mandat_pro": who["token"]}) as c:
        for path in ("/pro/leads", *(f"/pro/contacts/{p}" for p in who["contacts"])):
            if c.get(path).status_code != 200:
                tally.errors.append(path)


def table(result: dict[str, Any]) -> None:
    print()
    print(f"{'request':<28}{'n':>7}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for kind, figures in result["latency_ms"].items():
        if figures:
            print(
                f"{kind:<28}{figures['n']:>7}{figures['median']:>10.1f}{figures['p90']:>10.1f}"
                f"{figures['p99']:>10.1f}{figures['max']:>10.1f}"
            )
    print(f"open offers per agency: {result['open_offers_per_agency']}")
    print(f"requests/s: {result['requests_s']:.1f}; errors: {result['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agencies", type=int, default=35_000)
    parser.add_argument("--leads-per-day", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30, help="the leads' month")
    parser.add_argument("--consents", type=int, default=4, help="agencies named per lead")
    parser.add_argument("--scale", type=float, default=1.0, help="× agencies and leads")
    parser.add_argument("--busy", type=int, default=10, help="agencies with the most offers")
    parser.add_argument("--typical", type=int, default=30, help="agencies drawn at random")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help=f"keep (and reuse) {BENCH_DB}")
    args = parser.parse_args()
    admin, url = bench_urls(BENCH_DB)
    os.environ["DATABASE_URL"] = plain(url)  # the engine's services (people, purchases) too
    args.agencies = int(args.agencies * args.scale)
    args.leads = int(args.leads_per_day * args.days * args.scale)
    load = {"start": [round(x, 2) for x in os.getloadavg()]}
    result: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "keep"}}
    try:
        if args.keep and seeded_with(admin, BENCH_DB) == marker(args):
            print(f"reusing {BENCH_DB}", flush=True)
            autocommit(url, "DELETE FROM web_session")
        else:
            print(f"seeding {BENCH_DB}: {args.agencies:,} agencies, {args.leads:,} leads")
            new_database(admin, url, BENCH_DB)
            result["seeding_s"] = seed(url, args)
            mark_seeded(admin, BENCH_DB, marker(args))
        chosen = measured_agencies(url, args.busy, args.typical, random.Random(args.seed))
        result["open_offers_per_agency"] = chosen["open_offers_per_agency"]
        measured = []
        for group in ("busy", "typical"):
            for who in people(url, chosen[group]):
                measured.append({**who, "group": group})
        with unit_of_work(url) as session:
            result["database"] = {
                table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("agency", "lead", "lead_consent", "offer", "purchase")
            }
        print(f"serving with {args.workers} workers; {args.clients} clients, {args.seconds} s")
        env = {"MANDAT_ENV": "development", "MANDAT_RATE_LIMITS": "off"}
        started = time.monotonic()
        with server(plain(url), args.workers, SERVER_LOG, env) as (base, _):
            started = time.monotonic()
            tally = run(base, measured, args)
        wall = time.monotonic() - started
    finally:
        get_engine(url).dispose()
        if not args.keep:
            drop_database(admin, BENCH_DB)
    load["end"] = [round(x, 2) for x in os.getloadavg()]
    result["latency_ms"] = {
        kind: percentiles(np.array(tally.ms.get(kind, [])))
        for kind in ("healthz", "inbox", "inbox_busy", "inbox_typical", "contact")
    }
    result["requests_s"] = sum(len(tally.ms.get(k, [])) for k in ("healthz", "inbox", "contact"))
    result["requests_s"] /= max(wall, 1e-9)
    result["errors"] = len(tally.errors)
    result["error_samples"] = tally.errors[:10]
    result["machine"] = {"cpus": os.cpu_count(), "load_average": load}
    table(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written to {RESULTS}")
    if tally.errors:
        print(f"FAILED: {len(tally.errors)} requests were not answered 200: {tally.errors[:5]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
