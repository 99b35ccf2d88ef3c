"""Matching benchmark: `match_lead` against in-process baselines, on the same leads, in one run.

Drops and recreates the database `mandat_bench` on the server of DATABASE_URL (else the
project-local cluster), migrates it and loads the communes. For each size it seeds demo agencies
spread like the population and measures, on leads drawn like the population (Paris included):
the `SELECT 1` floor on the session's psycopg connection, `match_lead` per lead, a NumPy
brute-force haversine and a Shapely STRtree (zone boxes + exact haversine) implementing the
same rules, and the throughput of re-matching a batch: STRtree vectorised, set-based SQL (temp
table of leads + CROSS JOIN LATERAL with the scan of `IN_ZONE`) and sequential `match_lead` on
a sample. It also reports how often the database paths and the references name the same
agencies.

Machines are noisy: figures are medians and p99 (`perf_counter_ns`), methods are interleaved
lead by lead, ratios are taken against baselines of the same run. The table is printed and
written to benchmarks/results/matching.json.

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

from engine.config import sqlalchemy_url
from engine.db import get_engine
from engine.demo.seed import load_commune_sample, points_like_population, seed_agencies
from engine.geo.load import load_communes
from engine.geo.locate import Place
from engine.matching.service import MAX_RADIUS_M, match_lead, scan_sizes
from engine.migrate import upgrade
from engine.settings import MatchingRules, matching_rules
from mandat import cluster

EARTH_M = 6_371_008.8  # the sphere of geography `<->` (ST_Distance uses the spheroid)
BENCH_DB = "mandat_bench"
RESULTS = Path(__file__).resolve().parent / "results" / "matching.json"
Rad = tuple[np.ndarray, np.ndarray, np.ndarray]  # lon, lat (radians), cos(lat)
Hits = tuple[np.ndarray, np.ndarray]  # agency indexes, metres
Pairs = np.ndarray  # shape (3, n): lead index, agency index, metres (indexes exact as floats)
Stage = Callable[[int | None, np.ndarray], Pairs]  # (extension step or None for zones, leads)

# Per lead, the scan of service.IN_ZONE (GiST order inside the bound's box, LIMIT), the covering
# test outside it. As in match_lead, a lead with fewer covering rows than wanted is scanned again
# without the LIMIT; unlike it, there is no commune-list query (no agency has a list here).
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
class Agencies:
    """The eligible agencies (active, not paused); an agency's index is its position."""

    ids: list[uuid.UUID]
    lon: np.ndarray
    lat: np.ndarray
    rad: Rad
    radius: np.ndarray
    extended: np.ndarray
    total: int  # eligible or not


@dataclass(frozen=True)
class Leads:
    lon: np.ndarray
    lat: np.ndarray
    rad: Rad
    points: np.ndarray  # shapely Points
    places: list[Place]


def radians(lon: np.ndarray, lat: np.ndarray) -> Rad:
    return np.radians(lon), np.radians(lat), np.cos(np.radians(lat))


def take(rad: Rad, index: np.ndarray | int) -> Rad:
    return rad[0][index], rad[1][index], rad[2][index]


def haversine(a: Rad, b: Rad) -> np.ndarray:
    """Great-circle metres, broadcast."""
    s = np.sin((b[1] - a[1]) / 2) ** 2 + a[2] * b[2] * np.sin((b[0] - a[0]) / 2) ** 2
    d: np.ndarray = 2 * EARTH_M * np.arcsin(np.sqrt(s))
    return d


def bench_urls() -> tuple[str, str]:
    """(maintenance URL, benchmark URL) on the server of DATABASE_URL or the local cluster."""
    base = make_url(sqlalchemy_url(os.environ.get("DATABASE_URL") or cluster.url()))
    admin, bench = base.set(database="postgres"), base.set(database=BENCH_DB)
    return admin.render_as_string(False), bench.render_as_string(False)


def autocommit(url: str, sql: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE, VACUUM)."""
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
    places = [
        Place(sample.codes[p], sample.names[p], *communes[sample.codes[p]], x, y, "coordinates")
        for p, x, y in zip(picks.tolist(), lon.tolist(), lat.tolist(), strict=True)
    ]
    return Leads(lon, lat, radians(lon, lat), shapely.points(lon, lat), places)


def load_agencies(session: Session) -> Agencies:
    """Every agency from the database; the eligible ones kept as arrays."""
    lists = session.execute(text("SELECT count(*) FROM agency_commune")).scalar_one()
    assert lists == 0, "the references ignore commune lists: seeded agencies have none"
    rows = session.execute(
        text("""SELECT id, ST_X(zone_center::geometry) AS lon, ST_Y(zone_center::geometry) AS lat,
                       radius_m, accepts_extended_leads, paused, status FROM agency ORDER BY id""")
    ).all()
    ok = [r for r in rows if r.status == "active" and not r.paused]
    lon, lat = np.array([r.lon for r in ok]), np.array([r.lat for r in ok])
    radius = np.array([r.radius_m for r in ok], dtype=float)
    extended = np.array([r.accepts_extended_leads for r in ok])
    return Agencies([r.id for r in ok], lon, lat, radians(lon, lat), radius, extended, len(rows))


def build_trees(ag: Agencies, rules: MatchingRules) -> dict[int | None, Any]:
    """(STRtree, agency indexes) for the zones (None) and for each extension step.

    A box holds its circle: ±δ in latitude, ±asin(sin δ / cos φ) in longitude (δ = radius / R).
    """
    trees: dict[int | None, Any] = {}
    for step in (None, *rules.extension_steps_m):
        index = np.arange(len(ag.ids)) if step is None else np.flatnonzero(ag.extended)
        delta = (ag.radius[index] if step is None else np.full(len(index), step)) / EARTH_M
        dlat = np.degrees(delta)
        dlon = np.degrees(np.arcsin(np.minimum(1.0, np.sin(delta) / ag.rad[2][index])))
        lon, lat = ag.lon[index], ag.lat[index]
        boxes = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        trees[step] = (shapely.STRtree(boxes), index)
    return trees


def pick(rules: MatchingRules, zone: Hits, extended: Callable[[int], Hits]) -> list[int]:
    """match_lead's rules for one lead: nearest in zone, then extension steps while too few."""
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


def tree_stage(trees: dict[int | None, Any], ag: Agencies, leads: Leads) -> Stage:
    """Pairs from the STRtrees: box hits, then the exact haversine test."""

    def stage(step: int | None, todo: np.ndarray) -> Pairs:
        tree, index = trees[step]
        source, hit = tree.query(leads.points[todo])
        lead, agency = todo[source], index[hit]
        d = haversine(take(ag.rad, agency), take(leads.rad, lead))
        keep = d <= (ag.radius[agency] if step is None else step)
        return np.array([lead[keep], agency[keep], d[keep]], dtype=float)

    return stage


def strtree_one(stage: Stage, i: int, rules: MatchingRules) -> list[int]:
    def hits(step: int | None) -> Hits:
        pairs = stage(step, np.array([i]))
        return pairs[1].astype(np.int64), pairs[2]

    return pick(rules, hits(None), hits)


def sql_stage(session: Session, ag_index: dict[uuid.UUID, int], rules: MatchingRules) -> Stage:
    """Pairs from the set-based SQL over the temp table `bench_lead`."""
    wanted = max(rules.max_named_agencies, rules.min_candidates)

    def query(step: int | None, todo: np.ndarray, scan: int | None) -> Pairs:
        params = {"todo": todo.tolist(), "bound_m": step or MAX_RADIUS_M, "scan": scan}
        rows = session.execute(ZONE_SQL if step is None else EXTENDED_SQL, params).all()
        return np.array([(r[0], ag_index[r[1]], r[2]) for r in rows], dtype=float).reshape(-1, 3).T

    def stage(step: int | None, todo: np.ndarray) -> Pairs:
        pairs = query(step, todo, scan_sizes(wanted)[1])
        leads, counts = np.unique(pairs[0], return_counts=True)
        short = np.setdiff1d(todo, leads[counts >= wanted])  # the capped scan proves too little
        if not len(short):
            return pairs
        return np.concatenate([pairs[:, ~np.isin(pairs[0], short)], query(step, short, None)], 1)

    return stage


def top_k(pairs: Pairs, k: int) -> Pairs:
    """Per lead, the k nearest distinct agencies, sorted by (lead, distance)."""
    pairs = pairs[:, np.argsort(pairs[0] * 1e6 + pairs[2])]  # distances < 1e6 m: one sort key
    lead, agency = pairs[0], pairs[1]
    pairs = pairs[
        :, np.r_[True, (lead[1:] != lead[:-1]) | (agency[1:] != agency[:-1])][: len(lead)]
    ]
    lead = pairs[0]
    starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]])
    rank = np.arange(len(lead)) - np.repeat(starts, np.diff(np.r_[starts, len(lead)]))
    return pairs[:, rank < k]


def batch_rules(todo: np.ndarray, stage: Stage, rules: MatchingRules) -> Pairs:
    """match_lead's rules for a range of leads at once: per lead, the top of the union."""
    wanted = max(rules.max_named_agencies, rules.min_candidates)
    pairs = top_k(stage(None, todo), wanted)
    for step in rules.extension_steps_m:
        counts = np.bincount(pairs[0].astype(np.int64) - todo[0], minlength=len(todo))
        short = todo[counts < rules.min_candidates]
        if not len(short):
            break
        pairs = top_k(np.concatenate([pairs, stage(step, short)], axis=1), wanted)
    return top_k(pairs, rules.max_named_agencies)


def run_batch(count: int, chunk: int, stage: Stage, rules: MatchingRules) -> tuple[float, Pairs]:
    """(leads/s, candidate pairs) re-matching leads 0..count-1, `chunk` at a time."""
    gc.collect()
    start = perf_counter_ns()
    ranges = [np.arange(s, min(s + chunk, count)) for s in range(0, count, chunk)]
    pairs = np.concatenate([batch_rules(r, stage, rules) for r in ranges], axis=1)
    return count / ((perf_counter_ns() - start) / 1e9), pairs


def per_lead(pairs: Pairs, count: int) -> list[list[int]]:
    """Candidate indexes of leads 0..count-1 (pairs sorted by lead)."""
    lead, agency = pairs[:2, pairs[0] < count].astype(np.int64)
    bounds = np.cumsum(np.bincount(lead, minlength=count))[:-1]
    return [x.tolist() for x in np.split(agency, bounds)]


def agreement(got: list[list[int]], ref: list[list[int]]) -> dict[str, Any]:
    """Share of leads with the same candidate set; how many leads got fewer candidates."""
    pairs = list(zip(got, ref, strict=False))
    same = sum(set(a) == set(b) for a, b in pairs) / len(pairs)
    return {"leads": len(pairs), "same": same, "fewer": sum(len(a) < len(b) for a, b in pairs)}


def latency(
    session: Session, ag: Agencies, leads: Leads, stage: Stage, n: int
) -> tuple[dict[str, Any], list[list[int]]]:
    """Per-lead times of the floor, match_lead, NumPy and STRtree, interleaved lead by lead;
    the NumPy candidates (the reference)."""
    # The floor is a `SELECT 1` round trip on the psycopg connection match_lead itself uses.
    rules, raw = matching_rules(session), session.connection().connection.driver_connection
    ag_index = {a: i for i, a in enumerate(ag.ids)}
    times = {k: np.empty(n, np.int64) for k in ("floor", "match_lead", "numpy", "strtree")}
    found: dict[str, list[list[int]]] = {k: [] for k in ("match_lead", "numpy", "strtree")}
    for i in range(len(leads.places) - 200, len(leads.places)):  # warm up on other leads
        raw.execute("SELECT 1").fetchone()
        match_lead(session, leads.places[i], rules)
        numpy_one(ag, leads, i, rules)
        strtree_one(stage, i, rules)
    gc.collect()
    for i in range(n):
        t0 = perf_counter_ns()
        raw.execute("SELECT 1").fetchone()
        t1 = perf_counter_ns()
        candidates = match_lead(session, leads.places[i], rules)
        t2 = perf_counter_ns()
        found["numpy"].append(numpy_one(ag, leads, i, rules))
        t3 = perf_counter_ns()
        found["strtree"].append(strtree_one(stage, i, rules))
        times["strtree"][i] = perf_counter_ns() - t3
        times["floor"][i], times["match_lead"][i], times["numpy"][i] = t1 - t0, t2 - t1, t3 - t2
        found["match_lead"].append([ag_index.get(c.agency_id, -1) for c in candidates])
    figures: dict[str, Any] = {
        f"{k}_us": {"median": np.median(v) / 1e3, "p99": np.percentile(v, 99) / 1e3}
        for k, v in times.items()
    }
    figures["same_ids"] = {
        "match_lead_vs_numpy": agreement(found["match_lead"], found["numpy"]),
        "strtree_vs_numpy": agreement(found["strtree"], found["numpy"]),
    }
    return figures, found["numpy"]


def batches(
    session: Session, ag: Agencies, leads: Leads, stage: Stage, args: Any, ref: list[list[int]]
) -> dict[str, Any]:
    """Leads/s re-matching the batch: STRtree, set-based SQL, sequential match_lead (sample)."""
    rules, count = matching_rules(session), args.batch
    tree_rate, tree_pairs = run_batch(count, 1000, stage, rules)
    session.execute(
        text("""
            CREATE TEMP TABLE bench_lead AS
            SELECT i - 1 AS i, ST_SetSRID(ST_MakePoint(x, y), 4326)::geography AS pt
            FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY t(x, y, i)"""),
        {"x": leads.lon.tolist(), "y": leads.lat.tolist()},
    )
    session.execute(text("ALTER TABLE bench_lead ADD PRIMARY KEY (i)"))
    session.execute(text("ANALYZE bench_lead"))
    sql = sql_stage(session, {a: i for i, a in enumerate(ag.ids)}, rules)
    batch_rules(np.arange(len(leads.places) - 1000, len(leads.places)), sql, rules)  # warm up
    sql_rate, sql_pairs = run_batch(count, 5000, sql, rules)
    sample = min(count, args.seq_sample)
    gc.collect()
    start = perf_counter_ns()
    for place in leads.places[:sample]:
        match_lead(session, place, rules)
    seq_rate = sample / ((perf_counter_ns() - start) / 1e9)
    tree = per_lead(tree_pairs, count)
    return {
        "batch_leads": count,
        "strtree_leads_s": tree_rate,
        "sql_set_leads_s": sql_rate,
        "match_lead_seq_leads_s": seq_rate,
        "match_lead_seq_sample": sample,
        "strtree_over_sql_set": tree_rate / sql_rate,
        "strtree_over_match_lead_seq": tree_rate / seq_rate,
        "same_ids": {
            "strtree_batch_vs_numpy": agreement(tree, ref),
            "sql_set_vs_strtree_batch": agreement(per_lead(sql_pairs, count), tree),
        },
    }


def measure(url: str, leads: Leads, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure for the agency table as seeded, on the same leads."""
    with Session(get_engine(url)) as session:
        ag = load_agencies(session)
        start = perf_counter_ns()
        stage = tree_stage(build_trees(ag, matching_rules(session)), ag, leads)
        build_ms = (perf_counter_ns() - start) / 1e6
        lat, reference = latency(session, ag, leads, stage, args.leads)
        batch = batches(session, ag, leads, stage, args, reference)
        session.rollback()
    floor, match = lat["floor_us"], lat["match_lead_us"]
    in_paris = sum(p.commune_code.startswith("751") for p in leads.places[: args.leads])
    return lat | batch | {
        "agencies": ag.total,
        "eligible": len(ag.ids),
        "leads": args.leads,
        "leads_in_paris": in_paris / args.leads,
        "strtree_build_ms": build_ms,
        "match_p99_over_floor": match["p99"] / floor["median"],
        "numpy_over_match_median": lat["numpy_us"]["median"] / match["median"],
        "same_ids": lat["same_ids"] | batch["same_ids"],
    }  # fmt: skip


def cells(r: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of the table for one size, targets marked."""

    def us(key: str) -> str:
        return f"{r[key]['median']:,.0f} / {r[key]['p99']:,.0f}"

    def target(key: str, met: Callable[[float], bool]) -> str:
        return f"{r[key]:.2f} {'met' if met(r[key]) else 'MISSED'}"

    return [
        ("agencies (eligible)", f"{r['agencies']:,} ({r['eligible']:,})"),
        ("leads timed (in Paris)", f"{r['leads']:,} ({r['leads_in_paris']:.1%})"),
        ("floor SELECT 1 med / p99 µs", us("floor_us")),
        ("match_lead med / p99 µs", us("match_lead_us")),
        ("match_lead p99 / floor med (≤ 15)", target("match_p99_over_floor", lambda x: x <= 15)),
        ("NumPy brute force med / p99 µs", us("numpy_us")),
        ("NumPy med / match_lead med (≥ 4)", target("numpy_over_match_median", lambda x: x >= 4)),
        ("STRtree med / p99 µs", us("strtree_us")),
        ("STRtree build (3 trees) ms", f"{r['strtree_build_ms']:,.0f}"),
        (f"batch STRtree leads/s ({r['batch_leads']:,})", f"{r['strtree_leads_s']:,.0f}"),
        (f"batch SQL set-based leads/s ({r['batch_leads']:,})", f"{r['sql_set_leads_s']:,.0f}"),
        ("STRtree / SQL set-based (≤ 3)", target("strtree_over_sql_set", lambda x: x <= 3)),
        (f"match_lead sequential leads/s ({r['match_lead_seq_sample']:,})",
         f"{r['match_lead_seq_leads_s']:,.0f}"),
        ("STRtree / match_lead sequential (≤ 3)",
         target("strtree_over_match_lead_seq", lambda x: x <= 3)),
        *((f"same ids: {k}", f"{a['same']:.2%} of {a['leads']:,} ({a['fewer']} fewer)")
          for k, a in r["same_ids"].items()),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="35000,100000", help="agency counts, comma-separated")
    parser.add_argument("--leads", type=int, default=2000, help="leads timed one by one")
    parser.add_argument("--batch", type=int, default=100_000, help="leads re-matched in batch")
    parser.add_argument("--seq-sample", type=int, default=20_000, help="sequential match_lead")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the mandat_bench database")
    args = parser.parse_args()
    admin, url = bench_urls()
    print(f"creating {BENCH_DB}: migrations, communes", flush=True)
    create_database(admin, url)
    with Session(get_engine(url)) as session:
        rng = np.random.default_rng(args.seed + 1)
        leads = draw_leads(session, max(args.batch, args.leads) + 1000, rng)
    results: dict[str, Any] = {}
    load = {"start": os.getloadavg()}
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            print(f"seeding {size:,} agencies, measuring", flush=True)
            seed(url, size, args.seed)
            results[str(size)] = measure(url, leads, args)
    finally:
        get_engine(url).dispose()
        if not args.keep:
            autocommit(admin, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    load["end"] = os.getloadavg()
    columns = [cells(r) for r in results.values()]
    print(f"\n{'':44}" + "".join(f"{k + ' agencies':>34}" for k in results))
    for i, (label, _) in enumerate(columns[0]):
        print(f"{label:44}" + "".join(f"{c[i][1]:>34}" for c in columns))
    print(f"load average (1, 5, 15 min) at start {load['start']}, at end {load['end']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in vars(args).items() if k != "keep"}
    document = {"config": config, "load_average": load, "sizes": results}
    RESULTS.write_text(json.dumps(document, indent=2, default=float) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
