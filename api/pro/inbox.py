"""The lead inbox: the agency's catalogue with the API's filters and sorts, kept live.

`GET /pro/leads` renders the page; `GET /pro/leads/stream` is its server-sent events stream
(opened by /pro/static/inbox.js). The stream listens to this process's offer feed
(`engine.sales.offer_feed`: PostgreSQL LISTEN/NOTIFY, so a lead written through any server
process arrives) and, for each change of an offer of the person's agency, sends either the
card as the page renders it (`offer`, the same template) or the lead's id when it no longer
shows (`gone`: sold out, withdrawn, bought by a colleague…). Every page of the inbox listens:
the first places a new lead's card on top; a later page only updates the cards it shows and
counts the leads offered since it was rendered, with a link to the first page. A comment every
MANDAT_SSE_HEARTBEAT_S seconds (15) keeps proxies from closing it. The session is checked before
every message without counting as activity: a session signed out, revoked, expired or idle for
30 minutes ends the stream (`signed-out`). One person keeps at most
`offer_feed.MAX_STREAMS_PER_PERSON` streams open per server process (429 beyond).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Litestar, Request, Response, get
from litestar.params import FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.pro import web
from engine.errors import RuleViolation
from engine.people import service
from engine.people.sessions import SignedIn
from engine.sales.catalogue import GRADE_ORDER, SORTS, CatalogueQuery
from engine.sales.flows import browse_catalogue, offer_in_catalogue
from engine.sales.offer_feed import Change, OfferChanged, OfferFeed, TooManyStreams
from engine.sales.read_models import Offer

PAGE_SIZE = 25
PROPERTY_TYPES = ("appartement", "maison", "terrain", "autre")
STREAM_PATH = "/pro/leads/stream"


def catalogue_query(
    mode: str, property_type: str, min_grade: str, sort: str = "newest", cursor: str = ""
) -> CatalogueQuery:
    """The inbox's filters as the catalogue takes them; a value that is not one of the choices
    (an old bookmark, a hand-edited address) is ignored rather than refused."""
    return CatalogueQuery(
        mode=mode if mode in ("exclusive", "shared") else None,
        property_type=property_type if property_type in PROPERTY_TYPES else None,
        min_grade=min_grade if min_grade in GRADE_ORDER else None,
        sort=sort if sort in SORTS else "newest",
        limit=PAGE_SIZE,
        cursor=cursor[:200] or None,
    )


def offer_feed(app: Litestar) -> OfferFeed:
    """This process's feed (one listening connection), made with the app."""
    feed: OfferFeed | None = getattr(app.state, "offer_feed", None)
    if feed is None:
        feed = app.state.offer_feed = OfferFeed()
    return feed


async def stop_offer_feed(app: Litestar) -> None:
    feed: OfferFeed | None = getattr(app.state, "offer_feed", None)
    if feed is not None:
        await feed.stop()


def heartbeat_s() -> float:
    return float(os.environ.get("MANDAT_SSE_HEARTBEAT_S", "15"))


class InboxPages(Controller):
    path = "/pro"
    include_in_schema = False

    @get("/leads", sync_to_thread=True)
    def inbox(
        self,
        request: Request[Any, Any, Any],
        mode: FromQuery[str] = "",
        property_type: FromQuery[str] = "",
        min_grade: FromQuery[str] = "",
        sort: FromQuery[str] = "newest",
        cursor: FromQuery[str] = "",
    ) -> Response[Any]:
        person = web.gate(request)
        if not isinstance(person, SignedIn):
            return person
        query = catalogue_query(mode, property_type, min_grade, sort, cursor)
        since = datetime.now(UTC)  # a later page counts the leads offered after this
        try:
            page = browse_catalogue(person.caller, query)
        except RuleViolation:  # a cursor mangled by hand: the first page
            page = browse_catalogue(person.caller, replace(query, cursor=None))
        return web.render(
            request, "leads.html", person, offers=page.items, query=query,
            next_cursor=page.next_cursor, first_page=not query.cursor,
            filtered=bool(query.mode or query.property_type or query.min_grade),
            now=datetime.now(UTC), since=since,
        )  # fmt: skip

    @get("/leads/stream")
    async def stream(
        self,
        request: Request[Any, Any, Any],
        mode: FromQuery[str] = "",
        property_type: FromQuery[str] = "",
        min_grade: FromQuery[str] = "",
    ) -> Response[Any]:
        person = await asyncio.to_thread(web.person_of, request)
        if person is None or person.must_enrol:  # EventSource stops on an error status
            return Response("Signed out.", status_code=401, media_type="text/plain")
        feed = offer_feed(request.app)
        if feed.streams_of(person.user_id) >= feed.max_per_person:
            return Response("Too many open inboxes.", status_code=429, media_type="text/plain")
        query = catalogue_query(mode, property_type, min_grade)
        lang = web.lang_of(request, person)
        return ServerSentEvent(
            _events(request.app, feed, person, query, lang),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


async def _events(
    app: Litestar, feed: OfferFeed, person: SignedIn, query: CatalogueQuery, lang: str
) -> AsyncIterator[ServerSentEventMessage]:
    try:
        async with feed.subscribe(person.agency_id, person.user_id) as changes:
            # The first message says the inbox hears changes from now on (when the database is
            # away, the feed's reconnection sends `reload` later).
            with suppress(TimeoutError):
                await asyncio.wait_for(feed.listening.wait(), 10)
            yield ServerSentEventMessage(event="ready", data="", retry=5000)
            while True:
                quiet, change = await _next(changes)
                if not await asyncio.to_thread(service.still_signed_in, person):
                    yield ServerSentEventMessage(event="signed-out", data="")
                    return
                if quiet:
                    yield ServerSentEventMessage(comment="keep-alive", data=None)
                elif change is None:
                    yield ServerSentEventMessage(event="reload", data="")
                else:
                    yield await _message(app, person, query, lang, change)
    except TooManyStreams:
        yield ServerSentEventMessage(event="too-many", data="")


async def _next(changes: asyncio.Queue[Change]) -> tuple[bool, Change]:
    """(True, None) when nothing happened for a heartbeat's time, else (False, the change)."""
    try:
        return False, await asyncio.wait_for(changes.get(), heartbeat_s())
    except TimeoutError:
        return True, None


async def _message(
    app: Litestar, person: SignedIn, query: CatalogueQuery, lang: str, change: OfferChanged
) -> ServerSentEventMessage:
    offer = await asyncio.to_thread(offer_in_catalogue, person.caller, change.lead_id, query)
    if offer is None:
        return ServerSentEventMessage(event="gone", data=str(change.lead_id))
    return ServerSentEventMessage(event="offer", data=render_card(app, person, offer, lang))


def render_card(app: Litestar, person: SignedIn, offer: Offer, lang: str) -> str:
    """The card of one offer, exactly as the inbox page renders it."""
    template = app.template_engine.get_template("pro/_offer.html")  # type: ignore[union-attr]
    return str(
        template.render(lang=lang, person=person, offer=offer, now=datetime.now(UTC), live=True)
    )
