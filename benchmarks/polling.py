"""Polling benchmark: many agencies, each with its own API key, polling their catalogue.

Drops and recreates the database `mandat_polling_bench` on the server of DATABASE_URL (else the
project-local cluster), migrates it and loads the communes. A small market first (40 agencies in
four cities, `--leads` qualified leads made by the intake code, so the first agencies' pages are
not empty), then the other agencies and one `buyer` key each, set-based: `--keys` agencies and
keys in all. Keys are stored as the server stores them (HMAC-SHA256 with the pepper of this
run's `MANDAT_SECRET_KEY`); the first `--legacy` of them as keys issued before that scheme were
(argon2id), to show what their first poll costs and that it is paid once.

First, in this process (no HTTP), the key's check and a catalogue page are timed in one request
scope (as the catalogue routes run them) against two units of work (`one_session_or_two`).
Then, for each server (`--servers`: `mandat`, `mandat serve` as deployed, uvicorn; `granian`, the
same application under granian when it is installed, for comparison), a load generator written
in C (wrk, with a Lua script that rotates the keys: thread t of T uses keys t, t+T, t+2T…) runs
over real HTTP:
1. the floor: `GET /healthz` for `--seconds`;
2. the first polls: every key once, `GET /api/v1/leads?limit=50` (each key's first check in this
   process: a hash each; the argon2 keys are rehashed to the HMAC scheme);
3. the later polls: the keys again, in turn, for `--seconds` (each check is a hash lookup and
   the key's row read in the catalogue's own transaction).
During phases 2 and 3 the server's processes are sampled with py-spy (`--rate` Hz, when
installed): the share of the server's samples in the key's hash (HMAC or argon2) and in the
whole key check is reported. CPU seconds of the server's processes come from /proc; ratios to
the floor of the same run are what to compare across machines (shared machines are noisy).

Every answer must be 200; any other status is counted and exits 1. The table is printed and
written to benchmarks/results/polling.json; servers' logs go to benchmarks/results/.

Run: .venv/bin/python benchmarks/polling.py [--keys 35000] [--legacy 200] [--leads 60]
     [--seconds 20] [--connections 64] [--threads 2] [--workers 1] [--servers mandat[,granian]]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from argon2 import PasswordHasher
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    ROOT,
    add_agencies,
    bench_urls,
    drop_database,
    make_leads,
    new_database,
    process_tree,
    server,
)
from engine.db import unit_of_work
from engine.demo.seed import demo_siret

DATABASE = "mandat_polling_bench"
RESULTS = ROOT / "benchmarks" / "results"
PAGE = "/api/v1/leads?limit=50"

_LUA = """
local keys, threads = {}, {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(KEYS_FILE) do keys[#keys + 1] = line end
  i = id + 1
  bad, seen = 0, 0
  share = math.floor((#keys - id - 1) / NTHREADS) + 1
end
function request()
  local key = keys[i]
  i = i + NTHREADS
  if i > #keys then i = id + 1 end
  return wrk.format("GET", PATH, {["Authorization"] = "Bearer " .. key})
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
  seen = seen + 1
  if ONCE and seen == share then
    local done = io.open(DONE_DIR .. "/" .. id, "w")
    done:write("done")
    done:close()
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("NOT200 %d\\n", total))
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=35_000)
    parser.add_argument("--legacy", type=int, default=200)
    parser.add_argument("--leads", type=int, default=60)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--servers", default="mandat", help="mandat, granian (if installed)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("polling.py needs wrk (Debian package wrk)")
    os.environ.setdefault("MANDAT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    admin, url = bench_urls(DATABASE)
    print("seeding…", file=sys.stderr)
    started = time.monotonic()
    new_database(admin, url, DATABASE)
    keys = seed(url, args.keys, args.legacy, args.leads)
    seeded_s = time.monotonic() - started
    results: dict[str, Any] = {
        "keys": args.keys,
        "legacy_argon2_keys": args.legacy,
        "seeded_in_s": round(seeded_s, 1),
        "connections": args.connections,
        "wrk_threads": args.threads,
        "workers": args.workers,
        "servers": {},
    }
    results["one_session_or_two"] = session_ab(url, keys[args.legacy :][:300])
    with tempfile.TemporaryDirectory() as scratch:
        keys_file = Path(scratch) / "keys.txt"
        keys_file.write_text("\n".join(keys) + "\n")
        for name in args.servers.split(","):
            with undone_hashes(url, args.legacy):
                results["servers"][name] = run_server(name, url, keys_file, Path(scratch), args)
    drop_database(admin, DATABASE)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "polling.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    errors = sum(
        phase.get("not_200", 0)
        for server_result in results["servers"].values()
        for phase in server_result.values()
        if isinstance(phase, dict)
    )
    sys.exit(1 if errors else 0)


def seed(url: str, count: int, legacy: int, leads: int) -> list[str]:
    """`count` agencies (40 of them with offers) and one buyer key each; the keys, in order."""
    from engine.accounts.key_hashes import hash_key

    market = min(40, count)
    with unit_of_work(url) as session:
        add_agencies(session, market)
    make_leads(url, leads, np.random.default_rng(16))
    with unit_of_work(url) as session:
        session.execute(
            text("""
                INSERT INTO agency (name, siret, email, office, zone_center, radius_m,
                                    accepts_extended_leads, paused, status)
                SELECT 'Agence sondeuse ' || n, s, 'sondeuse' || n || '@exemple.fr',
                       CAST('SRID=4326;POINT(2.35 48.85)' AS geography),
                       CAST('SRID=4326;POINT(2.35 48.85)' AS geography), 20000, true, false,
                       'active'
                FROM unnest(CAST(:sirets AS text[])) WITH ORDINALITY AS t(s, n)
            """),
            {"sirets": [demo_siret(950_000 + n) for n in range(count - market)]},
        )
        agencies = session.execute(text("SELECT id FROM agency ORDER BY name")).scalars().all()
        hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
        keys, prefixes, hashes = [], [], []
        for n in range(len(agencies)):
            prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
            key = f"mdt_{prefix}_{secret}"
            keys.append(key)
            prefixes.append(prefix)
            hashes.append(hasher.hash(secret) if n < legacy else hash_key(key))
        session.execute(
            text("""
                INSERT INTO api_key (prefix, secret_hash, role, agency_id, label)
                SELECT p, h, 'buyer', a, 'polling'
                FROM unnest(CAST(:p AS text[]), CAST(:h AS text[]),
                            CAST(:a AS uuid[])) AS t(p, h, a)
            """),
            {"p": prefixes, "h": hashes, "a": list(agencies)},
        )
    with unit_of_work(url) as session:
        session.execute(text("ANALYZE"))
    return keys


def session_ab(url: str, keys: list[str], rounds: int = 5) -> dict[str, Any]:
    """In this process, no HTTP: the key's check and a catalogue page in one request scope (one
    session, one transaction, as the route runs them) or in two units of work (as a route with
    the `caller` dependency does), alternated; per request, median µs of wall and CPU time and the
    statements, BEGINs and COMMITs sent."""
    from sqlalchemy import event

    from engine.accounts.authentication import principal_of_key
    from engine.db import get_engine, request_scope
    from engine.sales.catalogue import CatalogueQuery
    from engine.sales.flows import browse_catalogue

    os.environ["DATABASE_URL"] = url
    query = CatalogueQuery(None, None, None, None, "newest", 50, None)
    counts = {"statements": 0, "begins": 0, "commits": 0}

    def counter(name: str) -> Any:
        return lambda *_, **__: counts.__setitem__(name, counts[name] + 1)

    def page(key: str, scoped: bool) -> None:
        if scoped:
            with request_scope():
                browse_catalogue(principal_of_key(key), query)
        else:
            browse_catalogue(principal_of_key(key), query)

    for key in keys:  # each key verified once: both variants are then hash lookups
        page(key, False)
    engine = get_engine(url)
    event.listen(engine, "before_cursor_execute", counter("statements"))
    event.listen(engine, "begin", counter("begins"))
    event.listen(engine, "commit", counter("commits"))
    runs: dict[str, dict[str, list[float]]] = {}
    for _ in range(rounds):
        for name, scoped in (("one_session", True), ("two_sessions", False)):
            counts.update(statements=0, begins=0, commits=0)
            wall, cpu = time.perf_counter_ns(), time.process_time_ns()
            for key in keys:
                page(key, scoped)
            run = runs.setdefault(name, {"wall": [], "cpu": [], **{k: [] for k in counts}})
            run["wall"].append((time.perf_counter_ns() - wall) / len(keys) / 1000)
            run["cpu"].append((time.process_time_ns() - cpu) / len(keys) / 1000)
            for k, v in counts.items():
                run[k].append(v / len(keys))
    return {
        name: {
            "wall_us": round(float(np.median(run["wall"])), 1),
            "cpu_us": round(float(np.median(run["cpu"])), 1),
            **{k: round(float(np.median(run[k])), 2) for k in counts},
        }
        for name, run in runs.items()
    }


@contextmanager
def undone_hashes(url: str, legacy: int) -> Iterator[None]:
    """The argon2 keys are stored as argon2 again after a server rehashed them, so that each
    server's first polls pay the same."""
    with unit_of_work(url) as session:
        saved = session.execute(
            text("SELECT id, secret_hash FROM api_key WHERE secret_hash LIKE '$argon2%'")
        ).all()
    try:
        yield
    finally:
        with unit_of_work(url) as session:
            for key_id, stored in saved:
                session.execute(
                    text("UPDATE api_key SET secret_hash = :h WHERE id = :id"),
                    {"h": stored, "id": key_id},
                )
        if len(saved) != legacy:
            print(f"note: {len(saved)} argon2 keys found, {legacy} asked", file=sys.stderr)


def run_server(
    name: str, url: str, keys_file: Path, scratch: Path, args: argparse.Namespace
) -> dict[str, Any]:
    print(f"{name}…", file=sys.stderr)
    log = RESULTS / f"polling-{name}-server.log"
    with server(url, args.workers, log, kind=name) as (base, process):
        floor = wrk(base, "/healthz", None, args, scratch, process)
        first = wrk(base, PAGE, keys_file, args, scratch, process, once=True)
        later = wrk(base, PAGE, keys_file, args, scratch, process)
        floor_after = wrk(base, "/healthz", None, args, scratch, process)
        sizes = (
            gzip_levels(base, keys_file.read_text().split("\n", 1)[0]) if name == "mandat" else None
        )
    out: dict[str, Any] = {
        "floor": floor,
        "first_polls": first,
        "later_polls": later,
        "floor_after": floor_after,
    }
    floor_rps = (floor["requests_per_s"] + floor_after["requests_per_s"]) / 2
    if sizes:
        out["gzip_levels"] = sizes
    out["later_polls_per_s_over_floor"] = round(later["requests_per_s"] / floor_rps, 3)
    out["first_polls_per_s_over_floor"] = round(first["requests_per_s"] / floor_rps, 3)
    return out


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(
    base: str,
    path: str,
    keys_file: Path | None,
    args: argparse.Namespace,
    scratch: Path,
    process: subprocess.Popen[bytes],
    once: bool = False,
) -> dict[str, Any]:
    command = ["wrk", "--latency", "-t", str(args.threads), "-c", str(args.connections)]
    done_dir = scratch / f"done-{time.monotonic_ns()}"
    done_dir.mkdir()
    if keys_file is not None:
        script = scratch / "poll.lua"
        script.write_text(
            f'KEYS_FILE = "{keys_file}"\nPATH = "{path}"\nNTHREADS = {args.threads}\n'
            f'ONCE = {"true" if once else "false"}\nDONE_DIR = "{done_dir}"\n' + _LUA
        )
        command += ["-s", str(script)]
    seconds = 3600 if once else args.seconds
    command += ["-d", f"{seconds}s", f"{base}{path}"]
    pids = process_tree(process.pid)
    spy = py_spy(process.pid, scratch, args.rate) if keys_file is not None else None
    cpu_before, started = cpu_seconds(pids), time.monotonic()
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    if once:  # stopped (SIGINT: wrk then reports) once every thread has sent its share
        while runner.poll() is None and len(list(done_dir.iterdir())) < args.threads:
            time.sleep(0.05)
        runner.send_signal(signal.SIGINT)
    output, _ = runner.communicate()
    wall = time.monotonic() - started
    cpu = cpu_seconds(pids) - cpu_before
    result = parse_wrk(output)
    result["server_cpu_s"] = round(cpu, 2)
    result["server_cpu_ms_per_request"] = round(1000 * cpu / max(result["requests"], 1), 3)
    result["wall_s"] = round(wall, 1)
    if spy is not None:
        result.update(spy_shares(*spy))
    return result


def py_spy(pid: int, scratch: Path, rate: int) -> tuple[subprocess.Popen[bytes], Path] | None:
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(binary).exists():
        return None
    out = scratch / f"spy-{time.monotonic_ns()}.txt"
    spy = subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--format",
         "raw", "--rate", str(rate), "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)  # attached before the load starts
    return spy, out


def spy_shares(spy: subprocess.Popen[bytes], out: Path) -> dict[str, Any]:
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
    if not out.exists():
        return {"py_spy": "no samples (py-spy could not attach)"}
    total = hashing = argon2 = checking = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        if "matches (engine/accounts/key_hashes.py" in stack or "hash_key (" in stack:
            hashing += n
            if "argon2" in stack:
                argon2 += n
        if "_authenticate (engine/accounts/authentication.py" in stack:
            checking += n
    share = lambda n: round(n / total, 4) if total else None  # noqa: E731
    return {
        "samples": total,
        "share_in_key_hashing": share(hashing),
        "share_in_argon2": share(argon2),
        "share_in_key_check": share(checking),
    }


def gzip_levels(base: str, key: str) -> dict[str, Any]:
    """The first agency's catalogue (it has offers), 50 and 200 a page, as sent uncompressed,
    then gzipped at each level here: size against the raw page and CPU per page (median)."""
    import gzip

    import httpx

    out: dict[str, Any] = {}
    for limit in (50, 200):
        body = httpx.get(
            f"{base}/api/v1/leads?limit={limit}",
            headers={"Authorization": f"Bearer {key}", "Accept-Encoding": "identity"},
            timeout=30,
        ).content
        levels = {}
        for level in (1, 4, 6, 9):
            runs = []
            for _ in range(30):
                started = time.perf_counter_ns()
                packed = gzip.compress(body, compresslevel=level)
                runs.append(time.perf_counter_ns() - started)
            levels[f"level_{level}"] = {
                "size_share": round(len(packed) / len(body), 3),
                "cpu_us": round(float(np.median(runs)) / 1000, 1),
            }
        out[f"limit_{limit}"] = {"bytes": len(body), **levels}
    return out


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    def ms(value: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
        return round(float(number) * _UNITS[unit], 3)

    found = re.search(r"(\d+) requests in ([\d.]+)(s|m)", output)
    if found is None:
        raise RuntimeError(f"wrk said:\n{output}")
    requests = int(found.group(1))
    seconds = float(found.group(2)) * (60 if found.group(3) == "m" else 1)
    latency = dict(re.findall(r"\s+(50|90|99)%\s+([\d.]+(?:us|ms|s))", output))
    not_200 = re.search(r"NOT200 (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests": requests,
        "seconds": seconds,
        "requests_per_s": round(requests / seconds, 1),
        "latency_ms": {f"p{k}": ms(v) for k, v in latency.items()},
        "not_200": int(not_200.group(1)) if not_200 else int(non_2xx.group(1)) if non_2xx else 0,
        **({"socket_errors": errors.group(1)} if errors else {}),
    }


if __name__ == "__main__":
    main()
