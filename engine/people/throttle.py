"""Token buckets kept in PostgreSQL, so that every server process counts against one limit.

A bucket holds at most `burst` tokens and gains `per_second` tokens a second. `take` spends one
(refused when fewer than one is left: the answer says how long to wait); `wait` only reads.
Sign-in spends a token per failure, and looks before it verifies a password, so a flood of wrong
passwords costs one indexed read each, never an argon2 hash.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.orm import Session

from engine.db import AsyncDatabase, get_engine

# A bucket's level now, as SQL over the row `b` (a statement may read a bucket beside its own rows).
LEVEL = _LEVEL = """least(:burst, b.tokens
                  + extract(epoch FROM clock_timestamp() - b.updated_at) * :per_second)"""

# A refused take leaves the level below one (never below zero): waiting is what refills it.
_TAKE = text(f"""
    INSERT INTO rate_bucket AS b (key, tokens, updated_at)
    VALUES (:key, :burst - 1, clock_timestamp())
    ON CONFLICT (key) DO UPDATE SET
        tokens = CASE WHEN {_LEVEL} >= 1 THEN {_LEVEL} - 1 ELSE greatest({_LEVEL}, 0) - 1 END,
        updated_at = clock_timestamp()
    RETURNING tokens
""")
_WAIT = text(f"SELECT {_LEVEL} FROM rate_bucket b WHERE key = :key")


def take(session: Session, key: str, burst: float, per_second: float) -> float:
    """Spends a token; 0 when there was one, else the seconds to wait before the next."""
    left = float(
        session.execute(_TAKE, {"key": key, "burst": burst, "per_second": per_second}).scalar_one()
    )
    return 0.0 if left >= 0 else (-left) / per_second


def wait(session: Session, key: str, burst: float, per_second: float) -> float:
    """The seconds before the bucket holds a token again (0: it holds one now)."""
    level = session.execute(
        _WAIT, {"key": key, "burst": burst, "per_second": per_second}
    ).scalar_one_or_none()
    if level is None or level >= 1:
        return 0.0
    return (1 - float(level)) / per_second


def client_key(ip: str | None) -> str:
    """The address a limit counts: an IPv6 client by its /64 (one subscriber's whole network)."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# The client's bucket first; the overall one is spent only when the client's had a token, so a
# client refused for its own flood does not drain everyone's share. One round trip for both.
_BUCKET_UPSERT = """
    INSERT INTO rate_bucket AS b (key, tokens, updated_at)
    SELECT {key}, {burst} - 1, clock_timestamp() {source}
    ON CONFLICT (key) DO UPDATE SET
        tokens = CASE WHEN {level} >= 1 THEN {level} - 1 ELSE greatest({level}, 0) - 1 END,
        updated_at = clock_timestamp()
    RETURNING tokens
"""


def _level(burst: str, per_second: str) -> str:
    return _LEVEL.replace(":burst", burst).replace(":per_second", per_second)


_TAKE_PAIR = text(
    "WITH client AS ("
    + _BUCKET_UPSERT.format(
        key=":key", burst=":burst", source="", level=_level(":burst", ":per_second")
    )
    + "), overall AS ("
    + _BUCKET_UPSERT.format(
        key=":all_key",
        burst=":all_burst",
        source="FROM client WHERE client.tokens >= 0",
        level=_level(":all_burst", ":all_per_second"),
    )
    + ") SELECT (SELECT tokens FROM client), (SELECT tokens FROM overall)"
)


# The same statement in psycopg's own form, for an async connection without SQLAlchemy.
_PSYCOPG = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]
_TAKE_PAIR_PSYCOPG = str(_TAKE_PAIR.compile(dialect=_PSYCOPG))


def take_pair(
    session: Session | Any,
    client: tuple[str, float, float],
    overall: tuple[str, float, float],
) -> Spent:
    """Spends a token from a client's bucket and, if it had one, from the overall bucket
    (`client` and `overall` are key, burst, per second). `session` may be a Connection: the
    limiter spends in a transaction of its own."""
    mine, everyone = session.execute(_TAKE_PAIR, _pair_params(client, overall)).one()
    return _spent(mine, everyone, client, overall)


@dataclass(frozen=True)
class Spent:
    """What `take_pair` did: the seconds to wait (0: both buckets had a token), and the tokens
    left in the overall bucket (None when the client's had none, so it was not spent)."""

    wait: float
    overall_left: float | None


async def take_pair_async(
    connection: psycopg.AsyncConnection[Any],
    client: tuple[str, float, float],
    overall: tuple[str, float, float],
) -> Spent:
    """`take_pair` on an async psycopg connection in autocommit: the same statement, one round
    trip, no worker thread."""
    cursor = await connection.execute(_TAKE_PAIR_PSYCOPG, _pair_params(client, overall))
    row = await cursor.fetchone()
    assert row is not None  # the statement always answers one row
    return _spent(row[0], row[1], client, overall)


def _spent(
    mine: Any, everyone: Any, client: tuple[str, float, float], overall: tuple[str, float, float]
) -> Spent:
    left = None if everyone is None else float(everyone)
    return Spent(_pair_wait(mine, everyone, client, overall), left)


def _pair_params(
    client: tuple[str, float, float], overall: tuple[str, float, float]
) -> dict[str, Any]:
    (key, burst, per_second), (all_key, all_burst, all_per_second) = client, overall
    return {"key": key, "burst": burst, "per_second": per_second, "all_key": all_key,
            "all_burst": all_burst, "all_per_second": all_per_second}  # fmt: skip


def _pair_wait(
    mine: Any, everyone: Any, client: tuple[str, float, float], overall: tuple[str, float, float]
) -> float:
    if mine < 0:
        return float(-mine) / client[2]
    if everyone is not None and everyone < 0:
        return float(-everyone) / overall[2]
    return 0.0


class SharedBuckets:
    """`take_pair` from an event loop, for the rate limiter in front of the routes: on the
    application's async connections once they are open (one round trip, no worker thread:
    benchmarks/limiter.py), else in a worker thread on the process's engine."""

    def __init__(self, database: AsyncDatabase | None = None) -> None:
        self.database = database
        self._engine: Engine | None = None

    @property
    def on_loop(self) -> bool:
        """Whether the buckets are spent on the event loop (the async connections are open)."""
        return self.database is not None and self.database.opened

    async def take_pair(
        self, client: tuple[str, float, float], overall: tuple[str, float, float]
    ) -> Spent:
        if self.database is None or not self.database.opened:
            return await anyio.to_thread.run_sync(self._take_pair_in_thread, client, overall)
        async with self.database.connection() as connection:
            return await take_pair_async(connection, client, overall)

    def _take_pair_in_thread(
        self, client: tuple[str, float, float], overall: tuple[str, float, float]
    ) -> Spent:
        if self._engine is None:
            self._engine = get_engine().execution_options(isolation_level="AUTOCOMMIT")
        with self._engine.connect() as connection:
            return take_pair(connection, client, overall)
