"""What each middleware of api/app.py costs a request, in process (no socket, no database).

A Litestar application with one small async route (`GET /ping`, a 3-field JSON answer) is called
directly through ASGI, `--requests` times per variant, in one process and one event loop: with no
middleware, then with each of the API's middlewares alone (request ids and the access line
written as JSON to /dev/null, the security headers (a before-send hook), the Prometheus
middleware in multiprocess mode as `mandat serve` runs it, the NUL check of query parameters (the
before-request hook) as the coroutine the application gives and as the plain function it was,
which Litestar runs in a worker thread), then with all of them. Log records are
made as the application makes them (`lean_log_records`), and once as Python makes them by
default, to show the saving.
The cost of a middleware is its variant's median µs per request minus the bare application's
(median of `--rounds` rounds, variants interleaved so that a noisy moment hits them all).

Run: .venv/bin/python benchmarks/middlewares.py [--requests 3000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="mandat-metrics-"))

from litestar import Litestar, get

from api.errors import refuse_nul_characters
from api.logging import JsonFormatter, lean_log_records, request_ids
from api.metrics import PROMETHEUS
from api.security_headers import security_headers


@get("/ping")
async def ping() -> dict[str, Any]:
    return {"status": "ok", "n": 1, "items": []}


def nul_check_in_a_thread(request: Any) -> None:
    """The NUL check's form as it was, a plain function, which Litestar runs in a worker thread:
    what it costs is that hop, not the check (the coroutine variant measures the check)."""


# name: (middlewares, before-send hooks, before-request hook), as api/app.py passes them.
VARIANTS: dict[str, tuple[list[Any], list[Any], Any]] = {
    "bare": ([], [], None),
    "request_ids + access line, full log records": ([request_ids], [], None),
    "request_ids + access line": ([request_ids], [], None),
    "security_headers (before-send hook)": ([], [security_headers], None),
    "prometheus": ([PROMETHEUS.middleware], [], None),
    "NUL check (before-request hook, a coroutine)": ([], [], refuse_nul_characters),
    "NUL check as a plain function (worker thread)": ([], [], nul_check_in_a_thread),
    "all of them": (
        [request_ids, PROMETHEUS.middleware],
        [security_headers],
        refuse_nul_characters,
    ),
}


async def drive(app: Litestar, count: int) -> float:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/ping", "raw_path": b"/ping", "query_string": b"",
        "root_path": "", "headers": [(b"host", b"bench"), (b"accept-encoding", b"gzip")],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    started = time.perf_counter_ns()
    for _ in range(count):
        await app(dict(scope), receive, send)  # type: ignore[arg-type]
    return (time.perf_counter_ns() - started) / count / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sink = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    sink.setFormatter(JsonFormatter())
    access = logging.getLogger("mandat.access")
    access.handlers, access.propagate = [sink], False
    access.setLevel(logging.INFO)
    apps = {
        name: Litestar(
            [ping],
            middleware=middleware,
            before_send=hooks,
            before_request=before,
            logging_config=None,
        )
        for name, (middleware, hooks, before) in VARIANTS.items()
    }
    full = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    source = logging._srcfile

    def records(name: str) -> None:
        """The application's lean records, except for the variant that measures without them."""
        if "full log records" in name:
            logging.logThreads, logging.logProcesses, logging.logMultiprocessing = full
            logging._srcfile = source
        else:
            lean_log_records()

    async def run() -> dict[str, list[float]]:
        times: dict[str, list[float]] = {name: [] for name in apps}
        for name, app in apps.items():  # warm up
            records(name)
            await drive(app, 200)
        for _ in range(args.rounds):
            for name, app in apps.items():
                records(name)
                times[name].append(await drive(app, args.requests))
        return times

    times = asyncio.run(run())
    bare = float(np.median(times["bare"]))
    result = {
        name: {
            "us_per_request": round(float(np.median(t)), 1),
            "over_bare_us": round(float(np.median(t)) - bare, 1),
        }
        for name, t in times.items()
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
