"""Address benchmark: `mandat ban import` in rows per second against a bare COPY of the same file,
and step 1's latency with geocoding beside the `/healthz` floor, in one run.

Drops and recreates the database `mandat_ban_bench` on the server of DATABASE_URL (else the
project-local cluster), migrates it and loads the communes. It writes a BAN file in the
published layout (gzip, the demo's generator: streets around the town hall of every commune of
a département, numbers with bis and ter, lieux-dits) of about `--addresses` rows, then, for
each of `--repeats` rounds: the floor, the file's rows copied as they are into a table of 23 text
columns (`COPY … (FORMAT csv)` fed the decompressed bytes: what streaming into PostgreSQL costs
without reading a field), and the import itself (parse, normalise the names, COPY, replace the
département, derive the streets, ANALYZE), committed. Rates are rows of the file per second,
medians of the rounds.

Then it seeds `--agencies` demo agencies, starts `mandat serve --workers 1` (limits off) and
sends, by one client in a shuffled mix: the floor `GET /healthz`, step 1 without a street (the
town hall, as before), step 1 with a typed street whose number the BAN has ("12 bd voltaire":
placed at the address), with a typo in the street (found by trigram similarity), and the street
suggestion `GET /api/v1/places/streets`. Figures are medians and p90 in ms (`perf_counter_ns`
on the client), ratios against the floor of the same run. The table is printed and written to
benchmarks/results/ban.json.

Run: .venv/bin/python benchmarks/ban.py [--departement 35] [--addresses 300000] [--repeats 3]
     [--requests 200] [--agencies 2000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import tempfile
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import httpx
import numpy as np
from harness import bench_urls, drop_database, new_database, percentiles, server, summary
from sqlalchemy import text

from engine.db import get_engine, unit_of_work
from engine.demo.ban import LIEUX_DITS, STREETS, Address, Town, addresses, towns, write_ban
from engine.demo.seed import seed_agencies
from engine.geo.ban import LAYOUT, import_ban
from engine.geo.street_names import street_key

BENCH_DB = "mandat_ban_bench"
RESULTS = Path(__file__).resolve().parent / "results" / "ban.json"
SERVER_LOG = RESULTS.parent / "ban-server.log"
SHORT = {"Rue": "r.", "Boulevard": "bd", "Avenue": "av.", "Place": "pl", "Allée": "all."}


def departement_towns(url: str, departement: str) -> list[Town]:
    with unit_of_work(url) as session:
        codes = session.execute(
            text("SELECT code FROM commune WHERE departement_code = :d AND kind = 'COM'"),
            {"d": departement},
        ).scalars()
        return towns(session, list(codes))


def write_file(places: list[Town], wanted: int, path: Path) -> list[Address]:
    per_street = max(1, math.ceil(wanted / (len(places) * (len(STREETS) + len(LIEUX_DITS)) * 1.22)))
    rows = [a for town in places for a in addresses(town, per_street)]
    write_ban(path, rows)
    return rows


def bare_copy(url: str, path: Path) -> int:
    """The file's rows into text columns, unread: the floor of streaming it into PostgreSQL."""
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TEMP TABLE raw ({', '.join(c + ' text' for c in LAYOUT)})"))
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            gzip.open(path, "rb") as source,
            raw.cursor().copy("COPY raw FROM STDIN (FORMAT csv, DELIMITER ';', HEADER)") as copy,
        ):
            while block := source.read(1 << 16):
                copy.write(block)
        rows = int(conn.execute(text("SELECT count(*) FROM raw")).scalar_one())
        conn.execute(text("DROP TABLE raw"))
    return rows


def full_import(url: str, path: Path) -> int:
    street_key.cache_clear()  # every round pays for normalising the names
    with unit_of_work(url) as session:
        return import_ban(session, [path]).rows


def timed(run: Any) -> tuple[int, float]:
    start = perf_counter_ns()
    rows = run()
    return rows, (perf_counter_ns() - start) / 1e9


def typed(address: Address, typo: bool) -> str:
    kind, _, rest = address.street.partition(" ")
    street = f"{SHORT.get(kind, kind)} {rest}".lower()
    if typo:
        street = street[:-2] + street[-1]  # a letter missing near the end
    rep = f" {address.rep}" if address.rep else ""
    return f"{address.number}{rep} {street}"


def step1(town: Town, street: str | None) -> dict[str, Any]:
    address = {"postal_code": town.postal_code, "city": town.name}
    if street:
        address["street"] = street
    return {"property": {"type": "maison", "surface_m2": 95, "rooms": 4}, "address": address}


def latencies(base: str, rows: list[Address], requests: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    numbered = [a for a in rows if a.number is not None and " " in a.street]
    jobs: list[tuple[str, str, str, Any]] = []
    for _ in range(requests):
        home = rng.choice(numbered)
        jobs += [
            ("floor", "GET", "/healthz", None),
            ("step1 town hall", "POST", "/api/v1/estimations", step1(home.town, None)),
            ("step1 address", "POST", "/api/v1/estimations", step1(home.town, typed(home, False))),
            ("step1 typo", "POST", "/api/v1/estimations", step1(home.town, typed(home, True))),
            (
                "suggestions",
                "GET",
                f"/api/v1/places/streets?postal_code={home.town.postal_code}"
                f"&q={typed(home, False)[:-3]}",
                None,
            ),
        ]
    rng.shuffle(jobs)
    timings: dict[str, list[float]] = {}
    precisions: dict[str, dict[str, int]] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(20):  # warm-up
            client.get("/healthz")
        for kind, method, path, body in jobs:
            start = perf_counter_ns()
            answer = client.request(method, path, json=body)
            elapsed = (perf_counter_ns() - start) / 1e6
            assert answer.status_code in (200, 201), (kind, answer.status_code, answer.text)
            timings.setdefault(kind, []).append(elapsed)
            if kind.startswith("step1"):
                found = answer.json()["location_precision"]
                precisions.setdefault(kind, {}).setdefault(found, 0)
                precisions[kind][found] += 1
    figures = {kind: percentiles(np.array(ms)) for kind, ms in timings.items()}
    floor = figures["floor"]["median"]  # type: ignore[index]
    for figure in figures.values():
        figure["x_floor"] = figure["median"] / floor  # type: ignore[index]
    return {"latency_ms": figures, "placed": precisions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--departement", default="35")
    parser.add_argument("--addresses", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--agencies", type=int, default=2000)
    args = parser.parse_args()

    admin, url = bench_urls(BENCH_DB)
    print(new_database(admin, url, BENCH_DB))
    try:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / f"adresses-{args.departement}.csv.gz"
            rows = write_file(departement_towns(url, args.departement), args.addresses, path)
            print(f"{len(rows):,} addresses, {path.stat().st_size / 1e6:.1f} MB gzipped")
            rounds: dict[str, list[float]] = {"bare COPY (floor)": [], "mandat ban import": []}
            for _ in range(args.repeats):  # interleaved, so both see the machine alike
                count, seconds = timed(lambda: bare_copy(url, path))
                rounds["bare COPY (floor)"].append(count / seconds)
                count, seconds = timed(lambda: full_import(url, path))
                rounds["mandat ban import"].append(count / seconds)
            speed = {k: summary(np.array(v)) for k, v in rounds.items()}
        with unit_of_work(url) as session:
            seed_agencies(session, args.agencies)
        with server(url, 1, SERVER_LOG, {"MANDAT_RATE_LIMITS": "off"}) as (base, _):
            step1_figures = latencies(base, rows, args.requests, seed=2026)
    finally:
        drop_database(admin, BENCH_DB)

    result = {"rows": len(rows), "import_rows_per_s": speed, **step1_figures}
    print(f"\nimport of {len(rows):,} rows, rows/s (median of {args.repeats})")
    for name, figure in speed.items():
        print(f"  {name:<22} {figure['median']:>12,.0f}  (min {figure['min']:,.0f})")
    floor = speed["bare COPY (floor)"]["median"]
    print(f"  import / floor        {speed['mandat ban import']['median'] / floor:>12.2f}")
    print("\none client, ms: median p90 p99 (× floor median)   placed at")
    for kind, figure in step1_figures["latency_ms"].items():
        placed = step1_figures["placed"].get(kind, "")
        print(
            f"  {kind:<16} {figure['median']:7.2f} {figure['p90']:7.2f} {figure['p99']:7.2f}"
            f"  (× {figure['x_floor']:.1f})  {placed}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
