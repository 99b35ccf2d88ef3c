"""Purchases that race each other over real HTTP, against two server workers on one database."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import text

from tests.market import Buyer, buyers, end_exclusive_window, offered_lead, shift_offer


def price_of(live_server: str, buyer: Buyer, lead: object) -> int:
    answer = httpx.get(f"{live_server}/api/v1/leads/{lead}", headers=buyer.headers, timeout=30)
    return int(answer.json()["price_cents"])


def fire(
    live_server: str, attempts: list[tuple[Buyer, object, dict[str, Any], str | None]]
) -> list[httpx.Response]:
    """Every attempt at once (a thread each, released together)."""

    def attempt(job: tuple[Buyer, object, dict[str, Any], str | None]) -> httpx.Response:
        buyer, lead, body, key = job
        headers = dict(buyer.headers)
        if key:
            headers["Idempotency-Key"] = key
        return httpx.post(
            f"{live_server}/api/v1/leads/{lead}/purchase", json=body, headers=headers, timeout=60
        )

    with ThreadPoolExecutor(max_workers=min(len(attempts), 64)) as pool:
        return list(pool.map(attempt, attempts))


def test_200_simultaneous_purchases_of_one_exclusive_lead_make_one_buyer(
    live_server: str, session
) -> None:
    agencies = buyers(session, 10)
    lead = offered_lead(session)
    price = price_of(live_server, agencies[0], lead)
    body = {"mode": "exclusive", "price_cents": price}

    answers = fire(live_server, [(agencies[n % 10], lead, body, None) for n in range(200)])

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 1, 409: 199}, statuses
    codes = Counter(a.json()["code"] for a in answers if a.status_code == 409)
    assert set(codes) <= {"lead_unavailable", "already_purchased"}
    winner = next(a for a in answers if a.status_code == 201).json()
    rows = session.execute(text("SELECT agency_id::text, mode FROM purchase")).all()
    assert [tuple(r) for r in rows] == [(winner_agency(winner, session), "exclusive")]
    assert session.execute(text("SELECT count(*) FROM ledger_line")).scalar_one() == 1


def winner_agency(purchase: dict[str, Any], session) -> str:  # type: ignore[no-untyped-def]
    return str(
        session.execute(
            text("SELECT agency_id FROM purchase WHERE id = :id"), {"id": purchase["purchase_id"]}
        ).scalar_one()
    )


def test_100_simultaneous_shared_purchases_make_shared_cap_different_buyers(
    live_server: str, session
) -> None:
    agencies = buyers(session, 10)
    lead = offered_lead(session)
    end_exclusive_window(session, lead)
    price = price_of(live_server, agencies[0], lead)
    body = {"mode": "shared", "price_cents": price}

    answers = fire(live_server, [(agencies[n % 10], lead, body, None) for n in range(100)])

    assert Counter(a.status_code for a in answers) == {201: 3, 409: 97}
    buyers_of_lead = (
        session.execute(text("SELECT agency_id FROM purchase WHERE lead_id = :l"), {"l": lead})
        .scalars()
        .all()
    )
    assert len(buyers_of_lead) == len(set(buyers_of_lead)) == 3
    offer = session.execute(
        text("SELECT shared_buyers, exclusive_buyer FROM offer WHERE lead_id = :l"), {"l": lead}
    ).one()
    assert tuple(offer) == (3, None)


def test_50_simultaneous_requests_with_one_idempotency_key_make_one_purchase(
    live_server: str, session
) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    price = price_of(live_server, a, lead)
    body = {"mode": "exclusive", "price_cents": price}

    answers = fire(live_server, [(a, lead, body, "retry-me") for _ in range(50)])

    assert {x.status_code for x in answers} == {201}
    assert len({x.text for x in answers}) == 1  # identical answers
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 1
    other = fire(live_server, [(a, lead, {"mode": "shared", "price_cents": price}, "retry-me")])
    assert other[0].status_code == 409
    assert other[0].json()["code"] == "idempotency_key_reused"


def test_purchases_racing_the_end_of_the_exclusive_window_stay_exclusive_or_shared(
    live_server: str, session
) -> None:
    agencies = buyers(session, 8)
    for _ in range(5):
        lead = offered_lead(session)
        exclusive = price_of(live_server, agencies[0], lead)
        shared = session.execute(
            text("SELECT shared_price_cents FROM offer WHERE lead_id = :l"), {"l": lead}
        ).scalar_one()
        shift_offer(session, lead, exclusive_until="clock_timestamp() + interval '300 ms'")
        time.sleep(0.2)
        attempts = [
            (agencies[n], lead, {"mode": "exclusive", "price_cents": exclusive}, None)
            for n in range(4)
        ] + [
            (agencies[n], lead, {"mode": "shared", "price_cents": shared}, None)
            for n in range(4, 8)
        ]

        answers = fire(live_server, attempts)

        assert all(a.status_code in (201, 409) for a in answers)
        modes = (
            session.execute(text("SELECT mode FROM purchase WHERE lead_id = :l"), {"l": lead})
            .scalars()
            .all()
        )
        assert modes in (["exclusive"], []) or (set(modes) == {"shared"} and len(modes) <= 3), modes


def test_a_budget_racing_two_purchases_pays_for_one(live_server: str, session) -> None:
    (a,) = buyers(session, 1)
    first, second = offered_lead(session), offered_lead(session)
    price = price_of(live_server, a, first)
    session.execute(
        text("UPDATE agency SET monthly_budget_cents = :b WHERE id = :a"),
        {"b": price + 100, "a": a.agency_id},
    )
    session.commit()
    body_of = {
        lead: {"mode": "exclusive", "price_cents": price_of(live_server, a, lead)}
        for lead in (first, second)
    }

    answers = fire(live_server, [(a, lead, body_of[lead], None) for lead in (first, second)] * 5)

    assert sorted(x.status_code for x in answers).count(201) == 1
    assert {x.json()["code"] for x in answers if x.status_code == 402} == {"budget_exceeded"}
    spent = session.execute(text("SELECT sum(amount_cents) FROM ledger_line")).scalar_one()
    assert spent <= price + 100


def test_one_agency_buying_many_leads_at_once_each_with_its_own_key_never_deadlocks(
    live_server: str, session
) -> None:
    # Found by the soak: each purchase claimed its Idempotency-Key (an insert referencing the
    # agency, so a key-share lock on its row) before locking the agency row for its budget.
    # Two purchases of one agency then each waited for the other's key-share lock: deadlock.
    (a,) = buyers(session, 1)
    leads = [offered_lead(session) for _ in range(24)]
    attempts = [
        (a, lead, {"mode": "exclusive", "price_cents": price_of(live_server, a, lead)}, f"k{n}")
        for n, lead in enumerate(leads)
    ]

    answers = fire(live_server, attempts)

    assert Counter(x.status_code for x in answers) == {201: 24}, [x.text for x in answers][:3]
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 24
