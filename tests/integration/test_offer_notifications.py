"""The database announces an offer's changes to the agencies it is offered to (migration 0024):
at commit, `<agency id>:<lead id>` on the channel `mandat_offer`, nothing for a transaction
rolled back; and one process's feed hands them to the subscribers of that agency."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import text

from engine.config import direct_database_url, libpq_url
from engine.db import unit_of_work
from engine.privacy.rights import withdraw_consent
from engine.sales.offer_feed import CHANNEL, OfferChanged, OfferFeed
from tests.market import buyers, offered_lead

PAYLOAD = re.compile(r"^[0-9a-f-]{36}:[0-9a-f-]{36}$")


@pytest.fixture
def listener(clean_db: str):  # type: ignore[no-untyped-def]
    with psycopg.connect(libpq_url(direct_database_url()), autocommit=True) as connection:
        connection.execute(f"LISTEN {CHANNEL}")
        yield connection


def heard(connection: psycopg.Connection) -> list[str]:  # type: ignore[type-arg]
    return [n.payload for n in connection.notifies(timeout=1.0)]


def test_an_offer_opening_bought_and_a_consent_withdrawn_are_announced(listener, session) -> None:
    mine, theirs, elsewhere = buyers(session, 3)
    lead = offered_lead(session, consent_to=[mine, theirs])
    session.commit()
    opened = heard(listener)
    assert sorted(opened) == sorted(f"{b.agency_id}:{lead}" for b in (mine, theirs))
    assert all(PAYLOAD.match(p) for p in opened)  # ids only: no personal data on the channel

    session.execute(
        text("UPDATE offer SET exclusive_buyer = :a WHERE lead_id = :l"),
        {"a": theirs.agency_id, "l": lead},
    )
    session.commit()
    assert sorted(heard(listener)) == sorted(opened)  # sold out: both inboxes hear it

    withdraw_consent(session, lead, mine.agency_id)
    session.commit()
    assert heard(listener) == [f"{mine.agency_id}:{lead}"]

    session.execute(text("UPDATE offer SET withdrawn_at = now() WHERE lead_id = :l"), {"l": lead})
    session.rollback()
    assert heard(listener) == []  # nothing committed, nothing announced
    assert elsewhere  # an agency not consented hears nothing of this lead


def test_the_feed_hands_a_change_to_its_agencys_subscribers_only(clean_db, session) -> None:
    mine, theirs = buyers(session, 2)

    async def scenario() -> tuple[OfferChanged | None, bool]:
        feed = OfferFeed()
        async with (
            feed.subscribe(mine.agency_id, uuid.uuid4()) as my_changes,
            feed.subscribe(theirs.agency_id, uuid.uuid4()) as their_changes,
        ):
            await asyncio.wait_for(feed.listening.wait(), 10)
            writer = threading.Thread(target=lambda: offered_lead_committed(mine))
            writer.start()  # another connection, as another server process would
            change = await asyncio.wait_for(my_changes.get(), 10)
            writer.join()
            await asyncio.sleep(0.3)
            quiet = their_changes.empty()
        await feed.stop()
        return change, quiet

    def offered_lead_committed(buyer):  # type: ignore[no-untyped-def]
        with unit_of_work() as other:
            found.append(offered_lead(other, consent_to=[buyer]))

    found: list[uuid.UUID] = []
    # Its own thread and event loop: the browser tests' Playwright keeps one running in this one.
    with ThreadPoolExecutor(1) as pool:
        change, quiet = pool.submit(asyncio.run, scenario()).result()
    assert change == OfferChanged(mine.agency_id, found[0])
    assert quiet
