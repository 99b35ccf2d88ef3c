"""Matching benchmark: `match_lead` against in-process baselines, on the same leads, in one run.

Drops and recreates the database `mandat_bench` on the server of DATABASE_URL (or of the
project-local cluster), migrates it and loads the communes. For each size it seeds demo agencies
spread like the population (`seed_agencies`), draws leads like the population (Paris included)
and measures on the same leads:

- floor: a `SELECT 1` round trip on the session that `match_lead` uses;
- `match_lead` per lead (rules loaded once, warmed up on other leads first);
- a NumPy brute-force haversine reference implementing the same rules over all agencies;
- a Shapely 2 STRtree over the agency zone boxes, exact haversine filter on the hits, same rules;
- batch re-matching: STRtree vectorised, a set-based SQL with the nearest-neighbour shape of
  `_NEAREST` (temp table of leads + CROSS JOIN LATERAL), and sequential `match_lead` calls on a
  sample;
- agreement of candidate ids between the database paths and the in-process references.

Timings are medians and p99 over many calls (`time.perf_counter_ns`) and ratios against baselines
measured in the same run, never a single time. The table is printed and written as JSON to
benchmarks/results/matching.json.

Run: .venv/bin/python benchmarks/matching.py [--sizes 35000,100000] [--leads 2000]
     [--batch 100000] [--seq-sample 20000] [--keep]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import numpy as np
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from engine import cluster
from engine.config import sqlalchemy_url
from engine.db import get_engine
from engine.demo.seed import load_commune_sample, points_like_population, seed_agencies
from engine.geo.load import load_communes
from engine.geo.locate import Place
from engine.matching.service import MAX_RADIUS_M, SCAN_FACTOR, match_lead
from engine.migrate import upgrade
from engine.settings import MatchingRules, matching_rules

EARTH_M = 6_371_008.8  # the sphere of geography `<->`; ST_Distance uses the spheroid
BENCH_DB = "mandat_bench"
RESULTS = Path(__file__).resolve().parent / "results" / "matching.json"
Hits = tuple[np.ndarray, np.ndarray]  # agency indexes, distances (m)
Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]  # lead indexes, agency indexes, distances (m)
Stage = Callable[[int | None, np.ndarray], Pairs]  # (extension step or None, leads) -> pairs

# Set-based re-matching: per lead, the same nearest-neighbour scan as service._NEAREST (GiST
# order, bounded box, LIMIT), the covering test outside the scan.
_BATCH = """
    SELECT l.i, near.id, ST_Distance(near.zone_center, l.pt) AS distance_m
    FROM bench_lead l CROSS JOIN LATERAL (
        SELECT a.id, a.zone_center, a.radius_m FROM agency a
        WHERE a.status = 'active' AND NOT a.paused {extra}
          AND a.zone_center && _ST_Expand(l.pt, :bound_m)
        ORDER BY a.zone_center <-> l.pt LIMIT :scan
    ) near
    WHERE l.i = ANY(CAST(:todo AS int[])) AND ST_DWithin(near.zone_center, l.pt, {reach})
"""
ZONE_SQL = text(_BATCH.format(extra="", reach="near.radius_m"))
EXTENDED_SQL = text(_BATCH.format(extra="AND a.accepts_extended_leads", reach=":bound_m"))


@dataclass(frozen=True)
class Points:
    """Positions in degrees and radians, with cos(lat) precomputed for haversine."""

    lon: np.ndarray
    lat: np.ndarray

    @property
    def rad(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lat = np.radians(self.lat)
        return np.radians(self.lon), lat, np.cos(lat)


@dataclass(frozen=True)
class Agencies:
    """Eligible agencies (active, not paused) as arrays; index = position in `ids`."""

    ids: list[uuid.UUID]
    at: Points
    rad: tuple[np.ndarray, np.ndarray, np.ndarray]
    radius: np.ndarray
    extended: np.ndarray
    total: int


@dataclass(frozen=True)
class Leads:
    at: Points
    rad: tuple[np.ndarray, np.ndarray, np.ndarray]
    points: np.ndarray  # shapely points
    places: list[Place]


@dataclass(frozen=True)
class Trees:
    """STRtrees over zone boxes (None) and over extension boxes (step), with agency indexes."""

    by_step: dict[int | None, tuple[shapely.STRtree, np.ndarray]]
    build_ms: float


def haversine(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> np.ndarray:
    """Great-circle metres between (lon, lat, cos lat) radians, broadcast."""
    s = np.sin((b[1] - a[1]) / 2) ** 2 + a[2] * b[2] * np.sin((b[0] - a[0]) / 2) ** 2
    return 2 * EARTH_M * np.arcsin(np.sqrt(s))


def take(rad: tuple[np.ndarray, ...], index: np.ndarray | int) -> tuple[np.ndarray, ...]:
    return tuple(x[index] for x in rad)


def bench_urls() -> tuple[str, str]:
    """(maintenance URL, benchmark URL) on the server of DATABASE_URL or the local cluster."""
    base = make_url(sqlalchemy_url(os.environ.get("DATABASE_URL") or cluster.url()))
    admin, bench = base.set(database="postgres"), base.set(database=BENCH_DB)
    return admin.render_as_string(False), bench.render_as_string(False)


def autocommit(url: str, sql: str) -> None:
    """Runs one statement outside a transaction (CREATE/DROP DATABASE, VACUUM)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def create_database(admin: str, url: str) -> None:
    """A fresh `mandat_bench`, migrated, with the communes loaded."""
    autocommit(admin, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    autocommit(admin, f'CREATE DATABASE "{BENCH_DB}"')
    upgrade(url)
    with Session(get_engine(url)) as session:
        print(" ", load_communes(session), flush=True)
        session.commit()


def seed(url: str, count: int, seed_value: int) -> None:
    """Exactly `count` demo agencies, then VACUUM ANALYZE as autovacuum would."""
    with Session(get_engine(url)) as session:
        session.execute(text("TRUNCATE agency CASCADE"))
        seed_agencies(session, count, seed=seed_value)
        session.commit()
    autocommit(url, "VACUUM ANALYZE agency")


def draw_leads(session: Session, count: int, rng: np.random.Generator) -> Leads:
    """`count` leads drawn like the population, each a Place at given coordinates."""
    sample = load_commune_sample(session, exponent=1.0)
    picks, lon, lat = points_like_population(sample, count, rng)
    rows = session.execute(text("SELECT code, departement_code, parent_code FROM commune"))
    communes = {r.code: (r.departement_code, r.parent_code) for r in rows}
    places = []
    for pick, x, y in zip(picks.tolist(), lon.tolist(), lat.tolist(), strict=True):
        code = sample.codes[pick]
        dep, parent = communes[code]
        places.append(Place(code, sample.names[pick], dep, parent, x, y, "coordinates"))
    at = Points(lon, lat)
    return Leads(at, at.rad, shapely.points(lon, lat), places)


def load_agencies(session: Session) -> Agencies:
    """All agencies from the database; the eligible ones as arrays."""
    lists = session.execute(text("SELECT count(*) FROM agency_commune")).scalar_one()
    assert lists == 0, "the references ignore commune lists: seeded agencies must have none"
    rows = session.execute(
        text("""
        SELECT id, ST_X(zone_center::geometry) AS lon, ST_Y(zone_center::geometry) AS lat,
               radius_m, accepts_extended_leads, paused, status
        FROM agency ORDER BY id""")
    ).all()
    ok = [r for r in rows if r.status == "active" and not r.paused]
    at = Points(np.array([r.lon for r in ok]), np.array([r.lat for r in ok]))
    return Agencies(
        ids=[r.id for r in ok],
        at=at,
        rad=at.rad,
        radius=np.array([r.radius_m for r in ok], dtype=float),
        extended=np.array([r.accepts_extended_leads for r in ok]),
        total=len(rows),
    )


def build_trees(ag: Agencies, rules: MatchingRules) -> Trees:
    """Boxes holding each circle: ±radius in latitude, ±asin(sin δ / cos φ) in longitude."""
    start = perf_counter_ns()
    by_step: dict[int | None, tuple[shapely.STRtree, np.ndarray]] = {}
    everyone = np.arange(len(ag.ids))
    for step in (None, *rules.extension_steps_m):
        index = everyone if step is None else np.flatnonzero(ag.extended)
        delta = (ag.radius[index] if step is None else np.full(len(index), step)) / EARTH_M
        dlat = np.degrees(delta)
        dlon = np.degrees(np.arcsin(np.minimum(1.0, np.sin(delta) / ag.rad[2][index])))
        lon, lat = ag.at.lon[index], ag.at.lat[index]
        boxes = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        by_step[step] = (shapely.STRtree(boxes), index)
    return Trees(by_step, (perf_counter_ns() - start) / 1e6)


def pick(rules: MatchingRules, zone: Hits, extended: Callable[[int], Hits]) -> list[int]:
    """match_lead's rules on one lead: nearest in zone, extension steps while < min_candidates."""
    wanted = max(rules.max_named_agencies, rules.min_candidates)
    found = nearest(zone, wanted)
    for step in rules.extension_steps_m:
        if len(found) >= rules.min_candidates:
            break
        for agency, d in nearest(extended(step), wanted).items():
            found.setdefault(agency, d)
    return sorted(found, key=found.__getitem__)[: rules.max_named_agencies]


def nearest(hits: Hits, k: int) -> dict[int, float]:
    index, d = hits
    if len(index) > k:
        part = np.argpartition(d, k)[:k]
        index, d = index[part], d[part]
    return dict(zip(index.tolist(), d.tolist(), strict=True))


def numpy_one(ag: Agencies, leads: Leads, i: int, rules: MatchingRules) -> list[int]:
    """Brute force: haversine to every eligible agency."""
    d = haversine(ag.rad, take(leads.rad, i))
    zone = np.flatnonzero(d <= ag.radius)

    def extended(step: int) -> Hits:
        index = np.flatnonzero(ag.extended & (d <= step))
        return index, d[index]

    return pick(rules, (zone, d[zone]), extended)


def tree_stage(trees: Trees, ag: Agencies, leads: Leads) -> Stage:
    """Pairs (lead, agency, metres) from the STRtree: zone boxes, or extension boxes of `step`."""

    def stage(step: int | None, todo: np.ndarray) -> Pairs:
        tree, index = trees.by_step[step]
        source, hit = tree.query(leads.points[todo])
        lead, agency = todo[source], index[hit]
        d = haversine(take(ag.rad, agency), take(leads.rad, lead))
        keep = d <= (ag.radius[agency] if step is None else step)
        return lead[keep], agency[keep], d[keep]

    return stage


def strtree_one(stage: Stage, i: int, rules: MatchingRules) -> list[int]:
    one = np.array([i])
    return pick(rules, stage(None, one)[1:], lambda step: stage(step, one)[1:])


def db_stage(session: Session, ag_index: dict[uuid.UUID, int], rules: MatchingRules) -> Stage:
    """Pairs from the set-based SQL over the temp table `bench_lead`."""
    scan = SCAN_FACTOR * max(rules.max_named_agencies, rules.min_candidates) + 4

    def stage(step: int | None, todo: np.ndarray) -> Pairs:
        query = ZONE_SQL if step is None else EXTENDED_SQL
        params = {"todo": todo.tolist(), "bound_m": step or MAX_RADIUS_M, "scan": scan}
        rows = session.execute(query, params).all()
        lead = np.array([r[0] for r in rows], dtype=np.int64)
        agency = np.array([ag_index[r[1]] for r in rows], dtype=np.int64)
        return lead, agency, np.array([r[2] for r in rows], dtype=float)

    return stage


def top_k(pairs: Pairs, k: int) -> Pairs:
    """Per lead, the k nearest distinct agencies, sorted by (lead, distance)."""
    lead, agency, d = pairs
    order = np.argsort(lead * 1e6 + d)  # distances < 1e6 m: one float key sorts by both
    lead, agency, d = lead[order], agency[order], d[order]
    new = np.ones(len(lead), bool)
    new[1:] = (lead[1:] != lead[:-1]) | (agency[1:] != agency[:-1])
    lead, agency, d = lead[new], agency[new], d[new]
    starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]])
    rank = np.arange(len(lead)) - np.repeat(starts, np.diff(np.r_[starts, len(lead)]))
    keep = rank < k
    return lead[keep], agency[keep], d[keep]


def batch_rules(todo: np.ndarray, stage: Stage, rules: MatchingRules) -> Pairs:
    """match_lead's rules on a contiguous range of leads at once (top-k of the union per lead)."""
    wanted = max(rules.max_named_agencies, rules.min_candidates)
    pairs = top_k(stage(None, todo), wanted)
    for step in rules.extension_steps_m:
        counts = np.bincount(pairs[0] - todo[0], minlength=len(todo))
        short = todo[counts < rules.min_candidates]
        if not len(short):
            break
        more = stage(step, short)
        pairs = top_k(tuple(np.concatenate(x) for x in zip(pairs, more, strict=True)), wanted)
    return top_k(pairs, rules.max_named_agencies)


def run_batch(count: int, chunk: int, stage: Stage, rules: MatchingRules) -> tuple[float, Pairs]:
    """(leads/s, candidate pairs) for re-matching leads 0..count-1 in chunks."""
    gc.collect()
    start = perf_counter_ns()
    parts = [
        batch_rules(np.arange(s, min(s + chunk, count)), stage, rules)
        for s in range(0, count, chunk)
    ]
    rate = count / ((perf_counter_ns() - start) / 1e9)
    return rate, tuple(np.concatenate(x) for x in zip(*parts, strict=True))


def per_lead(pairs: Pairs, count: int) -> list[list[int]]:
    lead, agency, _ = pairs
    inside = lead < count
    bounds = np.cumsum(np.bincount(lead[inside], minlength=count))[:-1]
    return [x.tolist() for x in np.split(agency[inside], bounds)]


def agreement(got: list[list[int]], ref: list[list[int]]) -> dict[str, Any]:
    """Share of leads with the same candidate set; how many got fewer candidates."""
    same = sum(set(a) == set(b) for a, b in zip(got, ref, strict=True))
    fewer = sum(len(a) < len(b) for a, b in zip(got, ref, strict=True))
    return {"leads": len(ref), "same_set": round(same / len(ref), 4), "fewer": fewer}


def stats(ns: np.ndarray) -> dict[str, float]:
    return {"median_us": float(np.median(ns)) / 1e3, "p99_us": float(np.percentile(ns, 99)) / 1e3}


def measure(url: str, leads: Leads, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure for one size of agency table, on the same leads."""
    with Session(get_engine(url)) as session:
        rules = matching_rules(session)
        ag = load_agencies(session)
        ag_index = {a: i for i, a in enumerate(ag.ids)}
        trees = build_trees(ag, rules)
        stage = tree_stage(trees, ag, leads)
        select_1 = text("SELECT 1")
        n = args.leads
        times = {k: np.empty(n, np.int64) for k in ("floor", "match_lead", "numpy", "strtree")}
        found: dict[str, list[list[int]]] = {"match_lead": [], "numpy": [], "strtree": []}
        for i in range(len(leads.places) - 200, len(leads.places)):  # warm-up on other leads
            session.execute(select_1).scalar_one()
            match_lead(session, leads.places[i], rules)
            numpy_one(ag, leads, i, rules)
            strtree_one(stage, i, rules)
        gc.collect()
        for i in range(n):  # interleaved, so that drift hits every method alike
            t0 = perf_counter_ns()
            session.execute(select_1).scalar_one()
            t1 = perf_counter_ns()
            candidates = match_lead(session, leads.places[i], rules)
            t2 = perf_counter_ns()
            found["numpy"].append(numpy_one(ag, leads, i, rules))
            t3 = perf_counter_ns()
            found["strtree"].append(strtree_one(stage, i, rules))
            t4 = perf_counter_ns()
            found["match_lead"].append([ag_index.get(c.agency_id, -1) for c in candidates])
            for key, ns in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                times[key][i] = ns

        batch = args.batch
        tree_rate, tree_pairs = run_batch(batch, 1000, stage, rules)
        session.execute(text("CREATE TEMP TABLE bench_lead (i int PRIMARY KEY, pt geography)"))
        raw = session.connection().connection.driver_connection
        assert raw is not None
        with raw.cursor().copy("COPY bench_lead (i, pt) FROM STDIN") as copy:
            for i, (x, y) in enumerate(zip(leads.at.lon, leads.at.lat, strict=True)):
                copy.write_row((i, f"SRID=4326;POINT({float(x)!r} {float(y)!r})"))
        session.execute(text("ANALYZE bench_lead"))
        sql = db_stage(session, ag_index, rules)
        batch_rules(np.arange(len(leads.places) - 1000, len(leads.places)), sql, rules)  # warm
        sql_rate, sql_pairs = run_batch(batch, 5000, sql, rules)
        sample = min(batch, args.seq_sample)
        gc.collect()
        start = perf_counter_ns()
        for place in leads.places[:sample]:
            match_lead(session, place, rules)
        seq_rate = sample / ((perf_counter_ns() - start) / 1e9)
        session.rollback()

    figures = {k: stats(v) for k, v in times.items()}
    floor, match = figures["floor"], figures["match_lead"]
    tree_batch = per_lead(tree_pairs, batch)
    return {
        "agencies": ag.total,
        "eligible": len(ag.ids),
        "leads": n,
        "paris_share": sum(p.commune_code.startswith("751") for p in leads.places[:n]) / n,
        **{f"{k}_us": v for k, v in figures.items()},
        "strtree_build_ms": trees.build_ms,
        "p99_over_floor": match["p99_us"] / floor["median_us"],
        "numpy_over_match": figures["numpy"]["median_us"] / match["median_us"],
        "batch": {
            "leads": batch,
            "strtree_leads_s": tree_rate,
            "sql_set_leads_s": sql_rate,
            "match_lead_sequential_leads_s": seq_rate,
            "match_lead_sequential_sample": sample,
            "strtree_over_sql_set": tree_rate / sql_rate,
            "strtree_over_sequential": tree_rate / seq_rate,
        },
        "agreement": {
            "match_lead_vs_numpy": agreement(found["match_lead"], found["numpy"]),
            "strtree_vs_numpy": agreement(found["strtree"], found["numpy"]),
            "strtree_batch_vs_numpy": agreement(tree_batch[:n], found["numpy"]),
            "sql_set_vs_strtree_batch": agreement(per_lead(sql_pairs, batch), tree_batch),
        },
    }


def cells(r: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of the table for one size, with the targets."""
    b, a = r["batch"], r["agreement"]
    rows = [
        ("agencies (eligible)", f"{r['agencies']:,} ({r['eligible']:,})"),
        ("leads timed / in Paris", f"{r['leads']:,} / {r['paris_share']:.1%}"),
        ("floor SELECT 1 med / p99 µs", _mp(r["floor_us"])),
        ("match_lead med / p99 µs", _mp(r["match_lead_us"])),
        ("match p99 / floor med (≤ 15)", _target(r["p99_over_floor"], r["p99_over_floor"] <= 15)),
        ("NumPy brute med / p99 µs", _mp(r["numpy_us"])),
        (
            "NumPy / match_lead med (≥ 4)",
            _target(r["numpy_over_match"], r["numpy_over_match"] >= 4),
        ),
        ("STRtree med / p99 µs", _mp(r["strtree_us"])),
        ("STRtree build ms (3 trees)", f"{r['strtree_build_ms']:,.0f}"),
        (f"batch STRtree leads/s ({b['leads']:,})", f"{b['strtree_leads_s']:,.0f}"),
        (f"batch SQL set leads/s ({b['leads']:,})", f"{b['sql_set_leads_s']:,.0f}"),
        (
            "STRtree / SQL set (≤ 3)",
            _target(b["strtree_over_sql_set"], b["strtree_over_sql_set"] <= 3),
        ),
        (
            f"match_lead seq. leads/s ({b['match_lead_sequential_sample']:,})",
            f"{b['match_lead_sequential_leads_s']:,.0f}",
        ),
        (
            "STRtree / match_lead seq. (≤ 3)",
            _target(b["strtree_over_sequential"], b["strtree_over_sequential"] <= 3),
        ),
    ]
    return rows + [(f"same ids {k}", _agree(v)) for k, v in a.items()]


def report(results: dict[str, dict[str, Any]]) -> None:
    """The table of figures, one column per size."""
    columns = [cells(r) for r in results.values()]
    print(f"\n{'':40}" + "".join(f"{s + ' agencies':>30}" for s in results))
    for i, (label, _) in enumerate(columns[0]):
        print(f"{label:40}" + "".join(f"{c[i][1]:>30}" for c in columns))


def _mp(x: dict[str, float]) -> str:
    return f"{x['median_us']:,.0f} / {x['p99_us']:,.0f}"


def _target(value: float, met: bool) -> str:
    return f"{value:.2f} {'met' if met else 'MISSED'}"


def _agree(a: dict[str, Any]) -> str:
    return f"{a['same_set']:.2%} of {a['leads']:,}, {a['fewer']} fewer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="35000,100000", help="agency counts, comma-separated")
    parser.add_argument("--leads", type=int, default=2000, help="leads timed one by one")
    parser.add_argument("--batch", type=int, default=100_000, help="leads re-matched in batch")
    parser.add_argument("--seq-sample", type=int, default=20_000, help="sequential match_lead")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the mandat_bench database")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    admin, url = bench_urls()
    print(f"creating {BENCH_DB}: migrations, communes", flush=True)
    create_database(admin, url)
    with Session(get_engine(url)) as session:
        leads = draw_leads(
            session, max(args.batch, args.leads) + 1000, np.random.default_rng(args.seed + 1)
        )
    results: dict[str, dict[str, Any]] = {}
    try:
        for size in sizes:
            print(f"seeding {size:,} agencies, measuring", flush=True)
            seed(url, size, args.seed)
            results[str(size)] = measure(url, leads, args)
    finally:
        get_engine(url).dispose()
        if not args.keep:
            autocommit(admin, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    report(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in vars(args).items() if k != "keep"}
    RESULTS.write_text(json.dumps({"config": config, "sizes": results}, indent=2) + "\n")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
