"""Bearer API keys → the calling `Principal`: as a dependency of the routes that need one, or,
for the hot reads, checked in the same thread hop and transaction as the route's work, or, for
the purchase, checked by the purchase's own database call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Request
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency

from engine.accounts.authentication import principal_of_key, recalled_caller, remembered_caller
from engine.accounts.keys import Principal
from engine.db import AsyncDatabase, request_scope

T = TypeVar("T")


def presented_key(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" else None


def principal(request: Request[Any, Any, Any]) -> Principal:
    return principal_of_key(presented_key(request))


async def as_caller(request: Request[Any, Any, Any], work: Callable[[Principal], T]) -> T:
    """`work(caller)` in one worker thread and one database session: the key's row is read in
    the transaction the service's unit of work then continues and commits (one BEGIN, one
    COMMIT, one connection), and the connection is never held while waiting for a thread."""
    presented = presented_key(request)

    def checked_then_done() -> T:
        with request_scope():
            return work(principal_of_key(presented))

    return await sync_to_thread(checked_then_done)


async def as_buyer(
    request: Request[Any, Any, Any],
    work: Callable[[Principal], T],
    on_loop: Callable[[AsyncDatabase, Principal], Awaitable[T]],
) -> T:
    """For work that reads the key's row itself, in its own transaction, and refuses there a key
    revoked or expired and a role that may not (the purchase: `buy_lead`). A key this process
    has verified goes to the work unread, so the purchase is one round trip: `on_loop(database,
    caller)` on the event loop and the application's async connections, no worker thread. Any
    other key — or one whose use is due to be written, or before the application's start-up —
    goes to `work(caller)` in one worker thread, authenticated first (a wrong secret: 401,
    throttled: 429)."""
    presented = presented_key(request)
    database = request.app.state.get("database")
    if isinstance(database, AsyncDatabase) and database.opened:
        recalled = recalled_caller(presented)
        if recalled is not None:
            return await on_loop(database, recalled)

    def checked_then_done() -> T:
        return work(remembered_caller(presented) or principal_of_key(presented))

    return await sync_to_thread(checked_then_done)


# How a route asks for its caller: `caller: Caller`, provided by `principal`.
Caller = NamedDependency[Principal]
