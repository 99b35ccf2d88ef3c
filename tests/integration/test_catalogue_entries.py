"""The catalogue's entries (migration 0029) follow every change that decides whether an agency
may still buy an offer, on the real database: the offer opening, a shared purchase, the offer
sold out, turning shared, regraded, withdrawn, a consent withdrawn, the purge of expired
entries; and two purchases racing leave the entries as the purchases left the offer. At every
step the entries are exactly what the catalogue's definition says (every consent not withdrawn
of an open offer the agency has not bought), and each agency's page lists them."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.jobs import purge_catalogue
from engine.privacy.rights import withdraw_consent
from tests.market import Buyer, buyers, end_exclusive_window, offered_lead, shift_offer

# The definition the entries stand for, read from the live rows (what the catalogue read before).
_DEFINITION = text("""
    SELECT lc.agency_id, lc.lead_id FROM lead_consent lc
    JOIN offer o ON o.lead_id = lc.lead_id
    WHERE lc.withdrawn_at IS NULL AND o.withdrawn_at IS NULL AND o.exclusive_buyer IS NULL
      AND o.shared_buyers < o.shared_cap AND o.expires_at > clock_timestamp()
      AND NOT EXISTS (SELECT 1 FROM purchase p
                      WHERE p.lead_id = lc.lead_id AND p.agency_id = lc.agency_id)
""")


def entries(session: Session, lead: uuid.UUID | None = None) -> set[uuid.UUID]:
    """The agencies holding an entry for `lead` (all entries' agencies when None)."""
    session.commit()  # a fresh snapshot
    rows = session.execute(
        text("SELECT agency_id FROM catalogue_entry WHERE :l IS NULL OR lead_id = :l"),
        {"l": lead},
    ).scalars()
    return set(rows)


def matches_definition(session: Session) -> None:
    session.commit()
    live = set(
        session.execute(
            text("SELECT agency_id, lead_id FROM catalogue_entry WHERE expires_at > now()")
        ).all()
    )
    assert live == set(session.execute(_DEFINITION).all())


def page_ids(client: Any, buyer: Buyer) -> list[str]:
    answer = client.get("/api/v1/leads", headers=buyer.headers)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def buy(client: Any, buyer: Buyer, lead: uuid.UUID, mode: str) -> Any:
    price = client.get(f"/api/v1/leads/{lead}", headers=buyer.headers).json()["price_cents"]
    return client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": mode, "price_cents": price},
        headers=buyer.headers,
    )


def test_entries_follow_an_offer_from_opening_to_sold_out(client, session) -> None:
    a, b, c, d, outsider = buyers(session, 5)
    lead = offered_lead(session, consent_to=[a, b, c, d])

    # Opened: one entry per consented agency, none for the others; the card is written.
    assert entries(session, lead) == {a.agency_id, b.agency_id, c.agency_id, d.agency_id}
    card = session.execute(text("SELECT card FROM offer WHERE lead_id = :l"), {"l": lead})
    assert '"commune": "Rennes"' in card.scalar_one()
    assert page_ids(client, a) == [str(lead)]
    assert page_ids(client, outsider) == []
    matches_definition(session)

    # The grade rises (the homeowner confirmed their contact): the filter by grade follows.
    def graded(grade: str) -> list[str]:
        session.execute(text("UPDATE lead SET grade = :g WHERE id = :l"), {"g": grade, "l": lead})
        session.commit()
        answer = client.get("/api/v1/leads?min_grade=B", headers=a.headers).json()
        return [item["id"] for item in answer["items"]]

    assert graded("C") == []
    assert graded("A") == [str(lead)]

    # Exclusive → shared: the same entries, the page now says shared at the shared price.
    end_exclusive_window(session, lead)
    assert entries(session, lead) == {a.agency_id, b.agency_id, c.agency_id, d.agency_id}
    item = client.get("/api/v1/leads", headers=a.headers).json()["items"][0]
    assert item["mode"] == "shared"
    assert item["slots_left"] == 3

    # Bought by one agency in shared mode: its entry goes, the others stay with a place fewer.
    assert buy(client, a, lead, "shared").status_code == 201
    assert entries(session, lead) == {b.agency_id, c.agency_id, d.agency_id}
    assert page_ids(client, a) == []
    assert client.get("/api/v1/leads", headers=b.headers).json()["items"][0]["slots_left"] == 2
    matches_definition(session)

    # Sold out (the cap of 3 reached): every entry goes, the last agency sees nothing.
    assert buy(client, b, lead, "shared").status_code == 201
    assert buy(client, c, lead, "shared").status_code == 201
    assert entries(session, lead) == set()
    assert page_ids(client, d) == []
    matches_definition(session)


def test_an_exclusive_purchase_empties_the_offers_entries(client, session) -> None:
    a, b = buyers(session, 2)
    lead = offered_lead(session, consent_to=[a, b])
    other = offered_lead(session, consent_to=[a, b])

    assert buy(client, a, lead, "exclusive").status_code == 201

    assert entries(session, lead) == set()
    assert entries(session, other) == {a.agency_id, b.agency_id}
    assert page_ids(client, b) == [str(other)]
    matches_definition(session)


def test_a_withdrawn_offer_and_a_withdrawn_consent_leave_the_catalogue(client, session) -> None:
    a, b = buyers(session, 2)
    withdrawn = offered_lead(session, consent_to=[a, b])
    consented = offered_lead(session, consent_to=[a, b])

    session.execute(
        text("UPDATE offer SET withdrawn_at = now(), withdrawn_reason = 'test' WHERE lead_id = :l"),
        {"l": withdrawn},
    )
    session.commit()
    assert entries(session, withdrawn) == set()
    card = session.execute(text("SELECT card FROM offer WHERE lead_id = :l"), {"l": withdrawn})
    assert card.scalar_one() is None  # nothing kept of a withdrawn offer's description

    withdraw_consent(session, consented, a.agency_id)
    session.commit()
    assert entries(session, consented) == {b.agency_id}
    assert page_ids(client, a) == []
    assert page_ids(client, b) == [str(consented)]
    assert client.get(f"/api/v1/leads/{consented}", headers=a.headers).status_code == 404
    matches_definition(session)


def test_expired_entries_are_hidden_at_once_and_purged_by_the_scheduler(client, session) -> None:
    a, b = buyers(session, 2)
    expired = offered_lead(session, consent_to=[a, b])
    open_ = offered_lead(session, consent_to=[a, b])
    shift_offer(
        session,
        expired,
        created_at="now() - interval '31 days'",
        exclusive_until="now() - interval '30 days'",
        expires_at="now() - interval '1 second'",
    )

    # Past its end the offer is gone from the page before any purge (the clock decides)...
    assert page_ids(client, a) == [str(open_)]
    assert entries(session, expired) == {a.agency_id, b.agency_id}

    # ...and the purge removes its entries, only those.
    assert purge_catalogue() == {"purged": 2}
    assert entries(session, expired) == set()
    assert entries(session, open_) == {a.agency_id, b.agency_id}
    assert page_ids(client, a) == [str(open_)]
    matches_definition(session)


def test_racing_purchases_leave_the_entries_as_they_left_the_offer(
    live_server: str, session
) -> None:
    agencies = buyers(session, 5)
    exclusive = offered_lead(session)
    shared = offered_lead(session)
    end_exclusive_window(session, shared)
    last_place = offered_lead(session)
    end_exclusive_window(session, last_place)
    session.execute(text("UPDATE offer SET shared_cap = 1 WHERE lead_id = :l"), {"l": last_place})
    session.commit()

    def price(lead: uuid.UUID) -> int:
        answer = httpx.get(
            f"{live_server}/api/v1/leads/{lead}", headers=agencies[0].headers, timeout=30
        )
        return int(answer.json()["price_cents"])

    attempts = [(b, exclusive, "exclusive", price(exclusive)) for b in agencies[:2]]
    attempts += [(b, shared, "shared", price(shared)) for b in agencies[:2]]
    attempts += [(b, last_place, "shared", price(last_place)) for b in agencies[2:4]]

    def attempt(job: tuple[Buyer, uuid.UUID, str, int]) -> tuple[uuid.UUID, Buyer, int]:
        buyer, lead, mode, cents = job
        answer = httpx.post(
            f"{live_server}/api/v1/leads/{lead}/purchase",
            json={"mode": mode, "price_cents": cents},
            headers=buyer.headers,
            timeout=60,
        )
        return lead, buyer, answer.status_code

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        outcomes = list(pool.map(attempt, attempts))

    won = {(lead, b.agency_id) for lead, b, status in outcomes if status == 201}
    assert sorted(status for _, _, status in outcomes) == [201, 201, 201, 201, 409, 409]
    everyone = {b.agency_id for b in agencies}
    # Exclusive: one winner, nobody left to sell to.
    assert entries(session, exclusive) == set()
    # Shared with places left: both bought, the other three still may.
    assert {a for lead, a in won if lead == shared} == {b.agency_id for b in agencies[:2]}
    assert entries(session, shared) == everyone - {b.agency_id for b in agencies[:2]}
    # One shared place, two racing for it: sold out, no entry left.
    assert len({a for lead, a in won if lead == last_place}) == 1
    assert entries(session, last_place) == set()
    matches_definition(session)
    for buyer in agencies:
        listed = httpx.get(f"{live_server}/api/v1/leads", headers=buyer.headers, timeout=30)
        expected = (
            [str(shared)] if buyer.agency_id not in {b.agency_id for b in agencies[:2]} else []
        )
        assert [i["id"] for i in listed.json()["items"]] == expected
