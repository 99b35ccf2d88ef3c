"""The rate limiter's buckets spent from the event loop (engine.people.throttle.SharedBuckets):
the same limit on its own async pool as in a worker thread, and a connection the database cut
fails one request as a lost connection (503 `try_again`), not every later one."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from engine.db import AsyncDatabase, is_connection_lost
from engine.people.throttle import SharedBuckets
from tests.helpers import run_async

CLIENT = ("limit:test:198.51.100.9", 3.0, 0.001)  # 3 at once, hardly refilled
OVERALL = ("limit:test:all", 100.0, 100.0)


def test_the_pool_and_the_worker_thread_spend_from_one_bucket(session) -> None:
    async def spend() -> list[float]:
        database = AsyncDatabase()
        pooled, threaded = SharedBuckets(database), SharedBuckets()
        await database.open(wait=True)
        try:
            return [
                (await pooled.take_pair(CLIENT, OVERALL)).wait,
                (await threaded.take_pair(CLIENT, OVERALL)).wait,
                (await pooled.take_pair(CLIENT, OVERALL)).wait,
                (await threaded.take_pair(CLIENT, OVERALL)).wait,
            ]
        finally:
            await database.close()

    waits = run_async(spend)
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] > 100  # the fourth waits for a token refilled at 0.001 a second
    level = session.execute(
        text("SELECT tokens FROM rate_bucket WHERE key = :key"), {"key": CLIENT[0]}
    ).scalar_one()
    assert level < 0


def test_a_connection_the_database_cut_fails_one_request_then_the_pool_reconnects(
    session,
) -> None:
    async def spend_across_a_cut() -> tuple[BaseException | None, float]:
        database = AsyncDatabase()
        buckets = SharedBuckets(database)
        await database.open(wait=True)
        try:
            await buckets.take_pair(CLIENT, OVERALL)
            session.execute(
                text("""SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                        WHERE datname = current_database()
                          AND application_name = 'mandat async'""")
            )
            lost: BaseException | None = None
            try:
                await buckets.take_pair(CLIENT, OVERALL)
            except Exception as error:  # noqa: BLE001 - the cut connection's error, checked below
                lost = error
            after = await buckets.take_pair(("limit:test:198.51.100.10", 3.0, 0.001), OVERALL)
            return lost, after.wait
        finally:
            await database.close()

    lost, after = run_async(spend_across_a_cut)
    assert lost is not None
    assert is_connection_lost(lost)
    assert after == 0.0


@pytest.fixture(autouse=True)
def _fresh_buckets(session) -> None:
    session.execute(text("DELETE FROM rate_bucket WHERE key LIKE 'limit:test:%'"))
    session.commit()
