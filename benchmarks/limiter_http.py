"""What the rate limiter costs step 1 and step 2 over HTTP: two servers, one client, paired.

Two `mandat serve` processes run on the same seeded bench database (the intake benchmark's,
`benchmarks/intake.py`, reused when seeded with the same sizes), one with the rate limiter
(`MANDAT_RATE_LIMITS` unset: the default sizes) and one without (`off`). Both trust loopback as
a proxy, so each simulated homeowner has an address of its own (`X-Forwarded-For`) and no
request is refused: the limiter's work is done on every limited request all the same.

One client sends the same shuffled mix to both, request by request: the floor `GET /healthz`
(not limited: a control, its two medians should agree), step 1 `POST /api/v1/estimations` and
step 2 `POST /api/v1/estimations/{id}/lead` (each server gets its own homeowner and estimation),
alternating which server goes first. Both servers thus see the same moments of a noisy machine;
the figures are each server's median, the difference of the medians (the judged figure: at most
1 ms) and the median of the paired differences.

Run: .venv/bin/python benchmarks/limiter_http.py [--pairs 400] [--warmup 100]
     [--agencies 5000] [--property-sales 100000] [--workers 1]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path
from time import perf_counter_ns

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import intake
from harness import bench_urls, plain, server

from engine.db import get_engine

SERVERS = {"on": "", "off": "off"}  # MANDAT_RATE_LIMITS of each server
TARGET_MS = 1.0
LOG = Path(__file__).resolve().parent / "results" / "limiter-http-{name}.log"


def jobs_for(
    kinds: list[str],
    places: list[tuple[str, str]],
    leads: list[intake.Job],
    rng: np.random.Generator,
) -> list[intake.Job]:
    """One job of each kind in order; each step 1 and step 2 a homeowner of its own."""
    places, leads = list(places), list(leads)
    out = []
    for kind in kinds:
        if kind == "floor":
            out.append(intake.FLOOR)
        elif kind == "step1":
            out.append(intake.step1(places.pop(), rng))
        else:
            out.append(leads.pop())
    return out


def paired(bases: dict[str, str], kinds: list[str], jobs: dict[str, list[intake.Job]]) -> dict:
    """Per server and kind, the nanoseconds of each request, in pair order."""
    first, second = bases
    times: dict[str, dict[str, list[int]]] = {n: {k: [] for k in intake.KINDS} for n in bases}
    clients = {name: httpx.Client(base_url=base, timeout=60) for name, base in bases.items()}
    try:
        for client in clients.values():
            client.get("/healthz")  # each connection opened before the clock starts
        for i, kind in enumerate(kinds):
            order = (first, second) if i % 2 == 0 else (second, first)
            for name in order:
                job = jobs[name][i]
                began = perf_counter_ns()
                response = clients[name].request(
                    job.method, job.path, json=job.body, headers=job.headers
                )
                elapsed = perf_counter_ns() - began
                if response.status_code != job.expect:
                    raise SystemExit(
                        f"{name} {kind}: {response.status_code} {response.text[:300]}"
                        " (the figures would not be the limiter's)"
                    )
                times[name][kind].append(elapsed)
    finally:
        for client in clients.values():
            client.close()
    return times


def paired_arguments(description: str) -> argparse.ArgumentParser:
    """The options of a paired run on the intake benchmark's database."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pairs", type=int, default=400, help="timed pairs of each kind")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up pairs of each kind")
    parser.add_argument("--agencies", type=int, default=5000)
    parser.add_argument("--property-sales", "--sales", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=1, help="worker processes per server")
    return parser


def intake_database(args: argparse.Namespace) -> str:
    """The intake benchmark's database, seeded as `args` say (reused and kept): its URL, which
    the engine of this process now reads."""
    args.keep = True
    admin, url = bench_urls(intake.BENCH_DB)
    os.environ["DATABASE_URL"] = plain(url)
    os.environ.setdefault("MANDAT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    intake.prepare(admin, url, args)
    return url


def main() -> None:
    args = paired_arguments((__doc__ or "").splitlines()[0]).parse_args()
    load = {"start": os.getloadavg()}
    url = intake_database(args)
    rng = np.random.default_rng(args.seed + 7)
    env = {"MANDAT_TRUSTED_PROXIES": "127.0.0.1"}
    with (
        server(plain(url), args.workers, Path(str(LOG).format(name="on")),
               {**env, "MANDAT_RATE_LIMITS": SERVERS["on"]}) as (on, _),
        server(plain(url), args.workers, Path(str(LOG).format(name="off")),
               {**env, "MANDAT_RATE_LIMITS": SERVERS["off"]}) as (off, _),
    ):  # fmt: skip
        bases = {"on": on, "off": off}
        per_kind = args.warmup + args.pairs
        places = intake.draw_places(url, 6 * per_kind + 5000, rng)
        version = httpx.get(f"{on}/api/v1/consent-text", timeout=10).json()["version"]
        print(f"step 1 × ≥{2 * per_kind:,}: estimations for step 2", flush=True)
        made, _, _ = intake.pool(on, places[: 2 * per_kind + 5000], rng, 2, 2 * per_kind)
        leads = [intake.step2(n + 1, e, a, version) for n, (e, a) in enumerate(made)]
        places = places[2 * per_kind + 5000 :]
        time.sleep(intake.TIME_TRAP_S)
        kinds = [str(k) for k in rng.permutation(list(intake.KINDS) * per_kind)]
        jobs = {
            "on": jobs_for(kinds, places[0::2], leads[0::2], rng),
            "off": jobs_for(kinds, places[1::2], leads[1::2], rng),
        }
        warm = 3 * args.warmup
        print(f"warm-up: {args.warmup} pairs of each kind", flush=True)
        paired(bases, kinds[:warm], {n: j[:warm] for n, j in jobs.items()})
        load["timed"] = os.getloadavg()
        print(f"timed: {args.pairs} pairs of each kind", flush=True)
        times = paired(bases, kinds[warm:], {n: j[warm:] for n, j in jobs.items()})
        load["end"] = os.getloadavg()
    get_engine(url).dispose()
    report(times, load)


def report(times: dict[str, dict[str, list[int]]], load: dict[str, tuple[float, ...]]) -> None:
    print(f"\n{'ms, one client':22}{'limiter on':>12}{'off':>9}{'on − off':>10}"
          f"{'paired Δ':>10}{'p90 on':>9}{'p90 off':>9}")  # fmt: skip
    costs = {}
    for kind in intake.KINDS:
        on, off = (np.array(times[n][kind], dtype=float) / 1e6 for n in ("on", "off"))
        costs[kind] = float(np.median(on) - np.median(off))
        print(
            f"{intake.LABELS[kind][:22]:22}{np.median(on):>12.2f}{np.median(off):>9.2f}"
            f"{costs[kind]:>+10.2f}{np.median(on - off):>+10.2f}"
            f"{np.percentile(on, 90):>9.2f}{np.percentile(off, 90):>9.2f}"
        )
    for kind in ("step1", "step2"):
        verdict = "HOLDS" if costs[kind] <= TARGET_MS else "MISSED"
        print(f"{kind}: the limiter costs {costs[kind]:+.2f} ms at the median"
              f" (target ≤ {TARGET_MS:g} ms: {verdict})")  # fmt: skip
    print(f"the floor (not limited, a control): {costs['floor']:+.2f} ms")
    print(f"load average (1, 5, 15 min): {load}")


if __name__ == "__main__":
    main()
