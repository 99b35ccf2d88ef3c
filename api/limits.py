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

import os
from dataclasses import dataclass

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from api.client import client_ip
from engine.db import AsyncDatabase
from engine.errors import TooManyRequests
from engine.people import throttle


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


class Limiter:
    """Spends the tokens of a request in one statement of its own, from the event loop, on the
    application's async connections (`engine.people.throttle.SharedBuckets`)."""

    def __init__(
        self, limits: dict[str, tuple[Bucket, Bucket]], database: AsyncDatabase | None
    ) -> None:
        self.limits = limits
        self.buckets = throttle.SharedBuckets(database)

    async def spend(self, group: str, client: str) -> float:
        mine, everyone = self.limits[group]
        return await self.buckets.take_pair(
            (f"limit:{group}:{client}", mine.burst, mine.per_second),
            (f"limit:{group}:all", everyone.burst, everyone.per_second),
        )

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Limits the routes whose `opt` names a group."""

        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            handler = scope.get("route_handler")
            group = handler.opt.get("limit") if handler is not None else None
            if scope["type"] == ScopeType.HTTP and group in self.limits:
                client = throttle.client_key(client_ip(ASGIConnection(scope)))
                wait = await self.spend(group, client)
                if wait > 0:
                    raise TooManyRequests("Too many requests: wait before trying again.", wait)
            await app(scope, receive, send)

        return limited


# Request bodies: the form's and the API's are a few kilobytes; Stripe's events carry invoices.
MAX_BODY = 64 * 1024
MAX_STRIPE_BODY = 1024 * 1024
