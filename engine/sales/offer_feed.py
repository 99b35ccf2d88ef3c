"""The offers' changes as they happen, for the agencies' open inboxes (Espace Pro's live inbox).

The database announces every change of an offer to the agencies it is offered to (NOTIFY on the
channel `mandat_offer`, from the triggers of migration 0024, at commit): the payload is only
`<agency id>:<lead id>`. Each server process holds ONE listening connection and hands each
announcement to the inboxes of that agency open in this process; so a lead written through one
process shows in an inbox served by another.

The listening connection is a direct psycopg connection, not one of the pool's: LISTEN needs a
session of its own, which a pooler in transaction mode (PgBouncer's) does not give. It uses
MANDAT_DIRECT_DATABASE_URL when set (the database itself, past any pooler), else DATABASE_URL. It is
opened when the first inbox subscribes, and reopened with a growing delay (1 s to 30 s) when it
breaks; after a reopening the subscribers are told they may have missed changes (`None`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import psycopg

from engine.config import direct_database_url, libpq_url

CHANNEL = "mandat_offer"
# Inboxes one person may keep open in one server process (tabs, devices): more is refused.
MAX_STREAMS_PER_PERSON = 5
# A subscriber slower than this many pending changes misses the next ones and is told to reload.
QUEUE_SIZE = 100
_HEALTH_CHECK_S = 30.0
_log = logging.getLogger("mandat.offer_feed")


class TooManyStreams(Exception):
    """This person already has MAX_STREAMS_PER_PERSON inboxes open in this process."""


@dataclass(frozen=True)
class OfferChanged:
    """Something changed about this lead's offer for this agency: read it again."""

    agency_id: uuid.UUID
    lead_id: uuid.UUID


def parse(payload: str) -> OfferChanged | None:
    agency, _, lead = payload.partition(":")
    try:
        return OfferChanged(uuid.UUID(agency), uuid.UUID(lead))
    except ValueError:
        return None


# What a subscriber receives: a change, or None (changes may have been missed: read it all again).
Change = OfferChanged | None


@dataclass
class OfferFeed:
    """One process's listener and its subscribers, by agency."""

    url: str | None = None
    max_per_person: int = MAX_STREAMS_PER_PERSON
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    _by_agency: dict[uuid.UUID, set[asyncio.Queue[Change]]] = field(default_factory=dict)
    _by_person: dict[uuid.UUID, int] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def subscribe(
        self, agency_id: uuid.UUID, person_id: uuid.UUID
    ) -> AsyncIterator[asyncio.Queue[Change]]:
        """A queue of this agency's offer changes while the block runs."""
        if self._by_person.get(person_id, 0) >= self.max_per_person:
            raise TooManyStreams
        self._by_person[person_id] = self._by_person.get(person_id, 0) + 1
        queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE_SIZE)
        self._by_agency.setdefault(agency_id, set()).add(queue)
        self._start()
        try:
            yield queue
        finally:
            self._by_agency[agency_id].discard(queue)
            if not self._by_agency[agency_id]:
                del self._by_agency[agency_id]
            self._by_person[person_id] -= 1
            if not self._by_person[person_id]:
                del self._by_person[person_id]

    def streams_of(self, person_id: uuid.UUID) -> int:
        return self._by_person.get(person_id, 0)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _deliver(self, change: Change, agency_id: uuid.UUID | None = None) -> None:
        targets = (
            self._by_agency.get(agency_id, set())
            if agency_id is not None
            else set().union(*self._by_agency.values())
        )
        for queue in list(targets):
            try:
                queue.put_nowait(change)
            except asyncio.QueueFull:  # a stuck reader: it reloads when it catches up
                with suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    async def _listen(self) -> None:
        delay = 1.0
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    libpq_url(self.url or direct_database_url()), autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    if not first:  # what happened while deaf is unknown: read it again
                        self._deliver(None)
                    first, delay = False, 1.0
                    while True:
                        async for notice in connection.notifies(timeout=_HEALTH_CHECK_S):
                            change = parse(notice.payload)
                            if change is not None:
                                self._deliver(change, change.agency_id)
                        await connection.execute("SELECT 1")  # still there?
            except (psycopg.Error, OSError) as broken:
                self.listening.clear()
                _log.warning("offer feed: listening connection lost (%s), again in %.0f s",
                             type(broken).__name__, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
