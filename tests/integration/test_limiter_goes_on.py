"""F4: the limiter lets a client's first request to a process run at once and spends its tokens
once it is answered (the overall bucket read at least half full a moment ago); any other request
waits for its tokens and is refused when a bucket is empty. A client spread over two processes
passes its limit by at most one request each, once (api/limits.py, `Limiter`). Two limiters
stand for two server processes, on the real database."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Litestar, post
from sqlalchemy import text

from api.errors import EXCEPTION_HANDLERS
from api.limits import Bucket, Limiter
from engine.db import AsyncDatabase, get_engine
from tests.helpers import run_async

LIMITS = {"step1": (Bucket(1, 0.001), Bucket(100, 0.001))}  # one per client, hardly refilled


@post("/api/v1/estimations", opt={"limit": "step1"}, status_code=201)
async def step1() -> dict[str, str]:
    return {"status": "ok"}


def _spent(address: str) -> bool:
    with get_engine().connect() as connection:
        return bool(
            connection.execute(
                text("SELECT count(*) FROM rate_bucket WHERE key = :key"),
                {"key": f"limit:step1:{address}"},
            ).scalar()
        )


async def _post(app: Litestar, address: str, spent_when_answered: list[bool]) -> int:
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/estimations", "raw_path": b"/api/v1/estimations",
        "query_string": b"", "root_path": "", "headers": [(b"host", b"test")],
        "server": ("127.0.0.1", 8000), "client": (address, 5000), "state": {},
    }  # fmt: skip
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            spent_when_answered.append(await anyio.to_thread.run_sync(_spent, address))

    await app(scope, receive, send)  # type: ignore[arg-type]
    return status[0]


def _two_processes() -> tuple[AsyncDatabase, list[Limiter], list[Litestar]]:
    database = AsyncDatabase()
    limiters = [Limiter(LIMITS, database), Limiter(LIMITS, database)]
    apps = [
        Litestar([step1], middleware=[limiter.middleware],
                 exception_handlers=EXCEPTION_HANDLERS, logging_config=None)
        for limiter in limiters
    ]  # fmt: skip
    return database, limiters, apps


def test_F4_a_new_client_is_answered_first_and_its_tokens_spent_after(session) -> None:
    async def scenario() -> tuple[list[int], list[bool], bool]:
        database, (one, _), (app, _) = _two_processes()
        await database.open(wait=True)
        spent: list[bool] = []
        try:
            first = await _post(app, "192.0.2.1", spent)  # waits: the level is not known yet
            await one.settled()
            new = await _post(app, "198.51.100.1", spent)  # runs at once
            await one.settled()
            return [first, new], spent, _spent("198.51.100.1")
        finally:
            await database.close()

    statuses, spent_when_answered, spent_after = run_async(scenario)
    assert statuses == [201, 201]
    assert spent_when_answered == [True, False]
    assert spent_after


def test_F4_a_client_over_two_processes_passes_its_limit_by_one_each_once(session) -> None:
    async def scenario() -> list[int]:
        database, limiters, apps = _two_processes()
        await database.open(wait=True)
        statuses: list[int] = []
        try:
            for n, app in enumerate(apps):  # each process learns the overall bucket's level
                await _post(app, f"192.0.2.{n}", [])
            for n in range(4):  # one client, one token, alternating between the processes
                statuses.append(await _post(apps[n % 2], "203.0.113.5", []))
                await limiters[n % 2].settled()
        finally:
            await database.close()
        return statuses

    # Its first request to each process runs at once (the second one past its limit); then
    # each process has seen it and waits for the tokens: refused.
    assert run_async(scenario) == [201, 201, 429, 429]


def test_F4_a_process_lets_at_most_half_the_overall_burst_through_ahead_of_its_spends(
    session,
) -> None:
    small = {"step1": (Bucket(5, 0.001), Bucket(4, 0.001))}  # half the overall burst: 2

    async def scenario() -> list[bool]:
        database = AsyncDatabase()
        limiter = Limiter(small, database)
        app = Litestar([step1], middleware=[limiter.middleware],
                       exception_handlers=EXCEPTION_HANDLERS, logging_config=None)  # fmt: skip
        await database.open(wait=True)
        try:
            await _post(app, "192.0.2.1", [])  # waits; 3 overall tokens left, now known
            # New clients whose requests are still running, their tokens not spent yet.
            return [limiter.spends_after("step1", f"198.51.100.{n}") for n in range(3)]
        finally:
            await database.close()

    assert run_async(scenario) == [True, True, False]
