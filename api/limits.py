"""Rate limits on the routes anyone may call: token buckets in PostgreSQL (`rate_bucket`), so
every worker of every server counts against the same limit.

A route joins a group with `opt={"limit": "<group>"}`. Each request then spends a token from
its client's bucket (the address `api.client.client_ip` names: X-Forwarded-For only from a
trusted proxy; an IPv6 client by its /64) and, if that one had a token, from the group's overall
bucket; either empty answers 429 `too_many_requests` with `Retry-After`. The tokens are spent in
one statement on an autocommit connection taken for that moment only (one of the application's
async connections, on the event loop: no worker thread), so no row lock is held while the route
works, and a refused request never reaches the route's own queries.

The sizes are protections, not business rules, so they are constants here rather than settings
an admin edits: they follow what a server can serve, not what the marketplace promises anyone.
`MANDAT_RATE_LIMITS` resizes them per deployment (`step1=30/0.033,step1.all=600/300`: burst,
then tokens a second; `.all` is the overall bucket) or turns the limiter off (`off`, e.g. behind
a proxy that limits, or to measure its cost).

Not limited: the form page, its script and assets are served from memory without the database
(a flood costs less than a limit check would; a proxy or CDN caches them); routes with an API
key are limited per key prefix where the key is checked (`engine.accounts.authentication`);
Espace Pro limits its own sign-in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from api.client import client_ip
from engine.db import AsyncDatabase
from engine.errors import TooManyRequests
from engine.people import throttle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bucket:
    burst: float
    per_second: float


# group: (per client, overall). Step 1 costs up to ~10 queries and writes a row; step 2 mails;
# the homeowner's link holds a secret worth guessing; the public reads are cheap but use the
# database. The overall sizes sit near what two workers serve, so a distributed flood slows the
# form down without stalling the agencies' API.
LIMITS: dict[str, tuple[Bucket, Bucket]] = {
    "step1": (Bucket(30, 1 / 30), Bucket(600, 300)),  # 30 at once, then 120 an hour
    # Above the 10 leads an address may send an hour before they are quarantined (a setting):
    # the quarantine is the business rule, this the hard stop.
    "step2": (Bucket(20, 1 / 60), Bucket(200, 100)),  # 20 at once, then 60 an hour
    "me": (Bucket(20, 1 / 10), Bucket(100, 50)),
    "public": (Bucket(120, 2), Bucket(1000, 500)),  # the form's city and street suggestions
}


def configured(setting: str | None = None) -> dict[str, tuple[Bucket, Bucket]] | None:
    """The limits in force: `LIMITS` resized by `MANDAT_RATE_LIMITS`; None when it says `off`."""
    setting = os.environ.get("MANDAT_RATE_LIMITS", "") if setting is None else setting
    if setting.strip().lower() == "off":
        return None
    limits = dict(LIMITS)
    for item in filter(None, (part.strip() for part in setting.split(","))):
        name, _, size = item.partition("=")
        group, _, which = name.strip().partition(".")
        burst, _, rate = size.partition("/")
        if group not in limits or which not in ("", "all"):
            raise ValueError(f"MANDAT_RATE_LIMITS: unknown limit {name!r}")
        bucket = Bucket(float(burst), float(rate))
        client, overall = limits[group]
        limits[group] = (client, bucket) if which else (bucket, overall)
    return limits


# A client's first request to this process runs before its tokens are spent (see `Limiter`)
# when the overall bucket was read at least half full within FRESH_S; SEEN bounds what is kept.
FRESH_S = 1.0
SEEN = 100_000


class Limiter:
    """Spends the tokens of a request in one statement of its own, from the event loop, on the
    application's async connections (`engine.people.throttle.SharedBuckets`).

    A request waits for that statement, and is refused at once when a bucket is empty, unless
    it is its client's first one to this process while the group's overall bucket was read, in
    the last second, at least half full: its client's bucket is then full as far as this
    process knows, and what other processes spent since cannot have emptied the overall one, so
    the route runs at once and the tokens are spent once it is answered. A client spread over P
    processes can thus pass its limit by at most P requests, once (and by one more when its
    next request to a process overtakes that spend); a flood of new clients is held by the
    overall bucket, which every request still spends and whose level each spend brings back:
    the requests let through and not yet spent count against that level, so a process never
    lets more than half the overall burst through ahead of its spends.
    A form's homeowner — one step 1, one step 2 — never waits for the limiter
    (benchmarks/limiter_http.py)."""

    def __init__(
        self, limits: dict[str, tuple[Bucket, Bucket]], database: AsyncDatabase | None
    ) -> None:
        self.limits = limits
        self.buckets = throttle.SharedBuckets(database)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._overall: dict[str, tuple[float, float]] = {}  # group: tokens left, read when
        self._spending: set[asyncio.Future[float]] = set()
        self._unspent: dict[str, int] = {}  # group: requests let through, tokens not yet spent

    async def spend(self, group: str, client: str) -> float:
        mine, everyone = self.limits[group]
        spent = await self.buckets.take_pair(
            (f"limit:{group}:{client}", mine.burst, mine.per_second),
            (f"limit:{group}:all", everyone.burst, everyone.per_second),
        )
        if spent.overall_left is not None:
            self._overall[group] = (spent.overall_left, time.monotonic())
        return spent.wait

    def spends_after(self, group: str, client: str) -> bool:
        """Whether this request runs at once, its tokens spent once it is answered (the class
        says when); if not, it waits for them."""
        key = f"{group}:{client}"
        first = key not in self._seen
        self._seen[key] = None
        self._seen.move_to_end(key)
        if len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        known = self._overall.get(group)
        if not first or known is None or not self.buckets.on_loop:
            return False
        left, read_at = known
        unspent = self._unspent.get(group, 0)
        if (
            left - unspent < self.limits[group][1].burst / 2
            or time.monotonic() - read_at >= FRESH_S
        ):
            return False
        self._unspent[group] = unspent + 1  # counted until its tokens are spent
        return True

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Limits the routes whose `opt` names a group."""

        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            handler = scope.get("route_handler")
            group = handler.opt.get("limit") if handler is not None else None
            if scope["type"] != ScopeType.HTTP or group not in self.limits:
                await app(scope, receive, send)
                return
            client = throttle.client_key(client_ip(ASGIConnection(scope)))
            if not self.spends_after(group, client):
                wait = await self.spend(group, client)
                if wait > 0:
                    raise TooManyRequests("Too many requests: wait before trying again.", wait)
                await app(scope, receive, send)
                return
            try:
                await app(scope, receive, send)
            finally:
                self._spend_after(group, client)

        return limited

    def _spend_after(self, group: str, client: str) -> None:
        """The tokens of a request that went on, spent once it is answered: a task of its own,
        kept until done (a database error is logged: the answer was the route's)."""
        spending = asyncio.ensure_future(self.spend(group, client))
        self._spending.add(spending)
        spending.add_done_callback(_forget(self._spending))
        spending.add_done_callback(
            lambda _: self._unspent.update({group: self._unspent[group] - 1})
        )

    async def settled(self) -> None:
        """Every spend still under way, done (the tests; a server stopping)."""
        while self._spending:
            await asyncio.gather(*self._spending, return_exceptions=True)


def _forget(tasks: set[asyncio.Future[float]]) -> Callable[[asyncio.Future[float]], None]:
    def done(task: asyncio.Future[float]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("rate limit: the tokens of a request could not be spent",
                        exc_info=task.exception())  # fmt: skip

    return done


# Request bodies: the form's and the API's are a few kilobytes; Stripe's events carry invoices.
MAX_BODY = 64 * 1024
MAX_STRIPE_BODY = 1024 * 1024
