"""Catalogue benchmark: a page of `GET /api/v1/leads` over HTTP for agencies with 100, 1,000 and
10,000 consents, beside the `/healthz` floor measured in the same run.

Drops and recreates the database `mandat_catalogue_bench` on the server of DATABASE_URL (else
the project-local cluster), migrates it and loads the communes. Three agencies (`add_agencies`);
then, in set-based SQL, `--consents` (10,000) qualified leads around Rennes' town hall, each
with its estimation, its offer and its consents: lead n is consented to the largest agency, to
the middle one when n is among the first tenth, to the smallest among the first hundredth. Even
leads are on sale (opened at instants spread over the last 29 days, so about a thirtieth still
exclusive), odd ones expired months ago: each agency's history holds as many past consents as
open offers. The offers' own triggers write the catalogue's entries as in production (the
notification triggers are disabled while seeding: nobody listens); the scheduler's purge then
removes the expired ones.

It starts `mandat serve` (`--workers`, 2) and runs `--clients` threads (2), one keep-alive
`httpx.Client` and one API key per agency, for `--seconds` (30): each request is drawn at
random, in equal shares, among `GET /healthz` (the floor: routing, middleware, one `SELECT 1`)
and the first page of each agency's catalogue for each `--limits` (50, 200) and `--sorts`
(newest, price, distance), so all see the same load. Latencies are the client's
(`perf_counter_ns`), p50/p90/p99 per kind. A request not answered 200, or a page that does not
hold min(limit, open offers) items, is an error: any exits 1.

Before the HTTP run, the page's statement alone (newest first) is timed in this process on one
connection, `--repeat` (50) times per agency and page size: as the catalogue read it before
migration 0029 (every consent of the agency, joined, sorted, cut: `_BEFORE`) and as it reads now
(`catalogue()`, rows built), so the old code path is a baseline of the same run.

Verdict (issue 16): per page size and sort, p99 at 10,000 consents ÷ p99 at 100 (goal ≤ 1.5) and
p99 at 10,000 ÷ the floor's p99 (goal < 5). With 100 consents an agency has 50 open offers, so
its 200-offer page holds 50 items: the 200 page is also compared at 10,000 ÷ 1,000 consents
(both full).

The table is printed and written to benchmarks/results/catalogue.json; the server's log goes to
benchmarks/results/catalogue-server.log. Absolute times depend on the machine's load: read the
ratios of one run.

Run: .venv/bin/python benchmarks/catalogue.py [--consents 10000] [--limits 50,200]
     [--sorts newest,price,distance] [--clients 2] [--seconds 30] [--workers 2] [--repeat 50]
     [--keep]
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
    add_agencies,
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

from engine.accounts.keys import create_key
from engine.db import get_engine, unit_of_work
from engine.geo.locate import locate
from engine.sales.catalogue import CatalogueQuery, catalogue, purge_expired
from engine.sales.offers import PHASE_SQL

BENCH_DB = "mandat_catalogue_bench"
RESULTS = Path(__file__).resolve().parent / "results" / "catalogue.json"
SERVER_LOG = RESULTS.parent / "catalogue-server.log"
_TRIGGERS = ("offer_opened", "offer_changed")

# Per lead n (1..:leads): ids, a point within ~1 km of the town hall, an instant: even leads
# opened over the last 29 days (golden-ratio spread), odd ones 60 to 120 days ago.
_LEADS = """
    CREATE TEMP TABLE bench_lead ON COMMIT DROP AS
    SELECT n, gen_random_uuid() AS estimation_id, gen_random_uuid() AS lead_id,
           ST_Project(CAST(:hall AS geography), 1000 * ((n * 0.7548776662466927) % 1),
                      radians(360 * ((n * 0.5698402909980532) % 1))) AS point,
           clock_timestamp() - interval '1 day' * CASE WHEN n % 2 = 0
               THEN 29 * ((n * 0.6180339887498949) % 1)
               ELSE 60 + 60 * ((n * 0.6180339887498949) % 1) END AS at
    FROM generate_series(1, CAST(:leads AS bigint)) AS g(n)
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
               :postal_code, :commune, b.point, 'address',
               jsonb_build_object('low_eur', 180000 + n % 90000, 'mid_eur', 200000 + n % 90000,
                                  'high_eur', 220000 + n % 90000, 'confidence', 'medium',
                                  'synthetic', true),
               '[]', '{}'
        FROM bench_lead b ORDER BY b.at
    """,
    "lead": """
        INSERT INTO lead (id, estimation_id, created_at, commune_code, first_name, last_name,
                          email, phone_e164, timeline, is_owner, status, score, grade,
                          score_reasons, quarantine_reasons, dedupe_until,
                          consent_text_version, consented_at, user_agent, rules)
        SELECT lead_id, estimation_id, at, :commune, 'Bench', 'Vendeur' || n,
               'bench' || n || '@exemple.fr', '+336' || lpad(n::text, 8, '0'),
               (ARRAY['asap', 'lt_3_months', '3_6_months'])[(1 + n % 3)::int], true, 'qualified',
               80 - n % 40, (ARRAY['A', 'B', 'C'])[(1 + n % 3)::int], '[]', '[]',
               at + interval '90 days', :consent, at, 'bench', '{}'
        FROM bench_lead ORDER BY at
    """,
    # The largest agency is named by every lead, the middle one by a tenth, the smallest by a
    # hundredth (the first leads: as many even as odd).
    "lead_consent": """
        INSERT INTO lead_consent (lead_id, agency_id, rank, agency_name, distance_m, reach,
                                  ticked_via)
        SELECT b.lead_id, a.id, a.k, a.name, round(ST_Distance(a.office, b.point)::numeric, 1),
               'zone', 'declared'
        FROM bench_lead b
        JOIN (SELECT id, name, office, row_number() OVER (ORDER BY name) AS k
              FROM agency) a
          ON b.n <= CAST(:leads AS bigint) / (CASE a.k WHEN 1 THEN 1 WHEN 2 THEN 10 ELSE 100 END)
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


# The first page (newest first) as the catalogue read it before migration 0029: every consent of
# the agency, joined, filtered by phase, sorted, cut. The baseline of the statements' table.
_BEFORE = f"""
    SELECT * FROM (
        SELECT o.lead_id AS id, o.created_at AS qualified_at, ({PHASE_SQL}) AS phase,
               CASE WHEN :now < o.exclusive_until THEN o.exclusive_price_cents
                    ELSE o.shared_price_cents END AS price_cents,
               c.name AS commune, e.postal_code, e.property, e.estimate, l.timeline, l.grade,
               lc.distance_m::float AS distance_m, lc.reach, e.location_precision,
               EXISTS (SELECT 1 FROM purchase p
                       WHERE p.lead_id = o.lead_id AND p.agency_id = lc.agency_id) AS bought
        FROM lead_consent lc
        JOIN offer o ON o.lead_id = lc.lead_id
        JOIN lead l ON l.id = o.lead_id
        JOIN estimation e ON e.id = l.estimation_id
        JOIN commune c ON c.code = e.commune_code
        WHERE lc.agency_id = :agency AND lc.withdrawn_at IS NULL
    ) offers
    WHERE phase IN ('offered_exclusive', 'offered_shared') AND NOT bought
      AND NOT (SELECT paused FROM agency WHERE id = :agency)
    ORDER BY qualified_at DESC, id DESC LIMIT :limit
"""


def statements(
    url: str, agencies: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    """The page's statement alone, in this process on one connection (no HTTP), before 0029 and
    now, `--repeat` runs each per agency and page size, rows fetched and built: wall-clock
    median and p99 ms, and CPU ms per page (this process + its PostgreSQL backend, from /proc),
    which the machine's other load does not inflate."""
    found: dict[str, Any] = {}
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")

    def backend_cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * tick_ms  # utime + stime

    with unit_of_work(url) as session:
        backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()

        def before(agency_id: uuid.UUID, limit: int) -> None:
            clock = session.execute(text("SELECT clock_timestamp()")).scalar_one()
            params = {"agency": agency_id, "now": clock, "limit": limit + 1}
            session.execute(text(_BEFORE), params).mappings().all()

        def now(agency_id: uuid.UUID, limit: int) -> None:
            catalogue(session, agency_id, CatalogueQuery(limit=limit))

        for agency in agencies:
            agency_id = uuid.UUID(agency["agency_id"])
            for limit in args.limits:
                for kind, page in (("before", before), ("now", now)):
                    page(agency_id, limit)  # warm
                    ms = []
                    cpu0 = time.process_time() * 1000 + backend_cpu(backend)
                    for _ in range(args.repeat):
                        t0 = perf_counter_ns()
                        page(agency_id, limit)
                        ms.append((perf_counter_ns() - t0) / 1e6)
                    cpu = time.process_time() * 1000 + backend_cpu(backend) - cpu0
                    figures = percentiles(np.array(ms)) or {}
                    figures["cpu_ms_per_page"] = cpu / args.repeat
                    found[f"{agency['consents']}:{limit}:{kind}"] = figures
    return found


def marker(args: argparse.Namespace) -> str:
    return f"catalogue bench: consents={args.consents}"


def seed(url: str, args: argparse.Namespace) -> dict[str, float]:
    """Three agencies, then the leads table by table (the entries by the offers' triggers);
    seconds per step."""
    times: dict[str, float] = {}
    with unit_of_work(url) as session:
        add_agencies(session, 3)
        hall = locate(session, "35000", "Rennes")
        for trigger in _TRIGGERS:  # nobody listens while seeding
            session.execute(text(f"ALTER TABLE offer DISABLE TRIGGER {trigger}"))
        settings = dict(session.execute(text("SELECT key, value FROM setting")).tuples().all())
        params = {
            "consent": session.execute(text("SELECT min(version) FROM consent_text")).scalar(),
            "grid": session.execute(text("SELECT max(version) FROM price_grid")).scalar(),
            "exclusive": f"{float(settings.get('exclusive_window_hours', 24))} hours",
            "offer_days": f"{float(settings.get('offer_days', 30))} days",
            "leads": args.consents,
            "hall": f"SRID=4326;POINT({hall.lon!r} {hall.lat!r})",
            "commune": session.execute(
                text("SELECT code FROM commune WHERE name = 'Rennes' ORDER BY code LIMIT 1")
            ).scalar_one(),
            "postal_code": "35000",
        }
        session.execute(text(_LEADS), params)
        for table, sql in _INSERTS.items():
            t0 = perf_counter_ns()
            session.execute(text(sql), params)
            times[table] = (perf_counter_ns() - t0) / 1e9
            print(f"  {table}: {times[table]:.1f} s", flush=True)
        for trigger in _TRIGGERS:
            session.execute(text(f"ALTER TABLE offer ENABLE TRIGGER {trigger}"))
    t0 = perf_counter_ns()
    with unit_of_work(url) as session:
        purged = 0
        while done := purge_expired(session):
            purged += done
    times["purge"] = (perf_counter_ns() - t0) / 1e9
    print(f"  purge of expired entries: {purged:,} in {times['purge']:.1f} s", flush=True)
    autocommit(url, "VACUUM ANALYZE")
    return times


_AGENCIES = """
    SELECT a.id,
           (SELECT count(*) FROM lead_consent lc WHERE lc.agency_id = a.id) AS consents,
           (SELECT count(*) FROM lead_consent lc JOIN offer o ON o.lead_id = lc.lead_id
            WHERE lc.agency_id = a.id AND o.expires_at > now()) AS open_offers,
           (SELECT count(*) FROM catalogue_entry e WHERE e.agency_id = a.id) AS entries
    FROM agency a ORDER BY consents
"""


def measured_agencies(url: str) -> list[dict[str, Any]]:
    """Each agency with its consents, open offers and entries, and a buyer key of its own."""
    found = []
    with unit_of_work(url) as session:
        for agency_id, consents, open_offers, entries in session.execute(text(_AGENCIES)):
            key = create_key(session, "buyer", agency_id, "catalogue bench").key
            found.append(
                {"agency_id": str(agency_id), "consents": consents, "open_offers": open_offers,
                 "entries": entries, "key": key}
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


def kinds(agencies: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """The floor, and one first page per agency, page size and sort."""
    found: list[dict[str, Any]] = [{"label": "healthz", "path": "/healthz"}]
    for agency in agencies:
        for limit in args.limits:
            for sort in args.sorts:
                found.append(
                    {
                        "label": f"{agency['consents']}:{limit}:{sort}",
                        "path": f"/api/v1/leads?limit={limit}&sort={sort}",
                        "headers": {"Authorization": f"Bearer {agency['key']}"},
                        "items": min(limit, agency["entries"]),
                    }
                )
    return found


def request(client: httpx.Client, kind: dict[str, Any], tally: Tally, counted: bool) -> None:
    t0 = perf_counter_ns()
    answer = client.get(kind["path"], headers=kind.get("headers"))
    elapsed = (perf_counter_ns() - t0) / 1e6
    if answer.status_code != 200:
        tally.errors.append(f"{kind['label']} {answer.status_code}")
        return
    if "items" in kind and len(answer.json()["items"]) != kind["items"]:
        tally.errors.append(f"{kind['label']}: {len(answer.json()['items'])} items")
        return
    if counted:
        tally.add(kind["label"], elapsed)


def client_loop(
    base: str, every: list[dict[str, Any]], tally: Tally, until: float, seed: int
) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=60) as client:
        while time.monotonic() < until:
            request(client, rng.choice(every), tally, True)


def run(base: str, every: list[dict[str, Any]], args: argparse.Namespace) -> Tally:
    tally = Tally()
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(2 * args.workers):  # each kind on each worker, uncounted: warm caches
            for kind in every:
                request(client, kind, tally, False)
    until = time.monotonic() + args.seconds
    threads = [
        threading.Thread(target=client_loop, args=(base, every, tally, until, args.seed + i))
        for i in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def verdict(latency: dict[str, Any], agencies: list[dict[str, Any]], args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Per page size and sort: the ratios issue 16 sets goals for."""
    small, middle, large = (a["consents"] for a in agencies)
    floor = latency["healthz"]["p99"]
    found = {}
    for limit in args.limits:
        for sort in args.sorts:
            figures = {n: latency[f"{n}:{limit}:{sort}"] for n in (small, middle, large)}
            if not all(figures.values()):
                continue  # a run too short to have measured each kind
            p99 = {n: f["p99"] for n, f in figures.items()}
            found[f"{limit}:{sort}"] = {
                "p99_large_over_small": p99[large] / p99[small],
                "p99_large_over_middle": p99[large] / p99[middle],
                "p99_large_over_floor": p99[large] / floor,
                "goals_met": p99[large] / p99[small] <= 1.5 and p99[large] / floor < 5,
            }
    return found


def table(result: dict[str, Any]) -> None:
    print()
    print(f"{'consents:limit:sort':<28}{'n':>7}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}")
    for kind, figures in result["latency_ms"].items():
        if figures:
            print(
                f"{kind:<28}{figures['n']:>7}{figures['median']:>10.2f}{figures['p90']:>10.2f}"
                f"{figures['p99']:>10.2f}"
            )
    print()
    print(f"{'limit:sort':<20}{'p99 10k/100':>14}{'p99 10k/1k':>14}{'p99 10k/floor':>16}  goals")
    for kind, ratios in result["verdict"].items():
        print(
            f"{kind:<20}{ratios['p99_large_over_small']:>14.2f}"
            f"{ratios['p99_large_over_middle']:>14.2f}{ratios['p99_large_over_floor']:>16.2f}"
            f"  {'met' if ratios['goals_met'] else 'MISSED'}"
        )
    print()
    print(
        f"{'statement consents:limit:when':<32}{'n':>5}{'p50 ms':>10}{'p99 ms':>10}{'CPU ms':>10}"
    )
    for kind, f in result["statement_ms"].items():
        print(
            f"{kind:<32}{f['n']:>5}{f['median']:>10.2f}{f['p99']:>10.2f}"
            f"{f['cpu_ms_per_page']:>10.2f}"
        )
    print(f"agencies: {result['agencies']}")
    print(f"requests/s: {result['requests_s']:.1f}; errors: {result['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--consents", type=int, default=10_000, help="of the largest agency")
    parser.add_argument("--limits", default="50,200")
    parser.add_argument("--sorts", default="newest,price,distance")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=50, help="runs of each statement alone")
    parser.add_argument("--keep", action="store_true", help=f"keep (and reuse) {BENCH_DB}")
    args = parser.parse_args()
    args.limits = [int(x) for x in args.limits.split(",")]
    args.sorts = args.sorts.split(",")
    admin, url = bench_urls(BENCH_DB)
    os.environ["DATABASE_URL"] = plain(url)
    load = {"start": [round(x, 2) for x in os.getloadavg()]}
    result: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "keep"}}
    try:
        if args.keep and seeded_with(admin, BENCH_DB) == marker(args):
            print(f"reusing {BENCH_DB}", flush=True)
            autocommit(url, "DELETE FROM api_key")
        else:
            print(f"seeding {BENCH_DB}: 3 agencies, {args.consents:,} leads")
            new_database(admin, url, BENCH_DB)
            result["seeding_s"] = seed(url, args)
            mark_seeded(admin, BENCH_DB, marker(args))
        agencies = measured_agencies(url)
        result["agencies"] = [{k: v for k, v in a.items() if k != "key"} for a in agencies]
        every = kinds(agencies, args)
        print(f"the page's statement alone, before 0029 and now: {args.repeat} runs each")
        result["statement_ms"] = statements(url, agencies, args)
        print(f"serving with {args.workers} workers; {args.clients} clients, {args.seconds} s")
        env = {"MANDAT_ENV": "development", "MANDAT_RATE_LIMITS": "off"}
        with server(plain(url), args.workers, SERVER_LOG, env) as (base, _):
            tally = run(base, every, args)
            wall = args.seconds
    finally:
        get_engine(url).dispose()
        if not args.keep:
            drop_database(admin, BENCH_DB)
    load["end"] = [round(x, 2) for x in os.getloadavg()]
    result["latency_ms"] = {
        k["label"]: percentiles(np.array(tally.ms.get(k["label"], []))) for k in every
    }
    result["verdict"] = verdict(result["latency_ms"], agencies, args)
    result["requests_s"] = sum(len(v) for v in tally.ms.values()) / wall
    result["errors"] = len(tally.errors)
    result["error_samples"] = tally.errors[:10]
    result["machine"] = {"cpus": os.cpu_count(), "load_average": load}
    table(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written to {RESULTS}")
    if tally.errors:
        print(f"FAILED: {len(tally.errors)} requests were not as expected: {tally.errors[:5]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
