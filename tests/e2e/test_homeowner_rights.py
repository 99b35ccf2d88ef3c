"""A homeowner's private link: export, erasure (also of a sold lead), consent withdrawal."""

from __future__ import annotations

import re

from sqlalchemy import text

from engine.privacy.links import make_token
from tests.market import buyers, offered_lead


def link_token(session, path: str = "/me") -> str:  # type: ignore[no-untyped-def]
    """The token of a link mailed with the confirmation of step 2: the private page /me, or
    `/me/confirm`, `/me/not-me`."""
    body = session.execute(
        text("SELECT payload->>'text' FROM outbox WHERE event = 'homeowner.mail'")
    ).scalar_one()
    found = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", body)
    assert found
    return found.group(1)


def test_the_confirmation_link_exports_everything_held(client, session) -> None:
    a, b = buyers(session, 2)
    lead = offered_lead(session, consent_to=[a, b])
    price = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]
    client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=a.headers,
    )

    data = client.get(f"/api/v1/me/data?token={link_token(session)}")

    assert data.status_code == 200
    body = data.json()
    assert body["contact"]["phone"].startswith("+336")
    assert body["consent"]["text_version"] == "consent-2026-11-fr"
    assert "agences" in body["consent"]["text"]
    assert len(body["consent"]["agencies"]) == 2
    assert [p["mode"] for p in body["bought_by"]] == ["exclusive"]
    actions = session.execute(text("SELECT action FROM audit_log")).scalars().all()
    assert "homeowner.exported" in actions


def test_a_forged_or_expired_link_opens_nothing(client, session) -> None:
    buyers(session, 1)
    lead = offered_lead(session)
    token = link_token(session)

    forged = client.get(f"/api/v1/me/data?token={token[:-3]}abc")
    expired = client.get(f"/api/v1/me/data?token={make_token(lead, days=-1)}")
    missing = client.get("/api/v1/me/data")

    assert forged.status_code == 403
    assert forged.json()["code"] == "invalid_token"
    assert expired.status_code == 403
    assert missing.status_code in (400, 422)


def test_erasing_a_sold_lead_anonymises_it_and_tells_its_buyers(client, session) -> None:
    a, _unsold = buyers(session, 2)
    lead = offered_lead(session)
    price = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]
    client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers={**a.headers, "Idempotency-Key": "k1"},
    )
    token = link_token(session)

    erased = client.delete(f"/api/v1/me/data?token={token}")

    assert erased.json() == {"erased": True, "agencies_notified": 1}
    row = session.execute(
        text("""
            SELECT l.first_name, l.email, l.phone_e164, e.street, e.location_precision,
                   o.withdrawn_reason
            FROM lead l JOIN estimation e ON e.id = l.estimation_id
            JOIN offer o ON o.lead_id = l.id
        """)
    ).one()
    assert tuple(row) == (None, None, None, None, "town_hall", "erasure")
    told = session.execute(
        text("SELECT agency_id, payload FROM outbox WHERE event = 'lead.erased'")
    ).all()
    assert {t.agency_id for t in told} == {a.agency_id}
    purchase = client.get("/api/v1/purchases", headers=a.headers).json()["items"][0]
    assert purchase["contact"]["phone"] is None
    stored = session.execute(text("SELECT response FROM idempotency_key")).scalar_one()
    assert stored is None
    assert session.execute(text("SELECT count(*) FROM ledger_line")).scalar_one() == 1
    assert client.get(f"/api/v1/me/data?token={token}").status_code == 404
    assert client.delete(f"/api/v1/me/data?token={token}").status_code == 404


def test_withdrawing_consent_for_one_agency_stops_its_sale_to_that_agency(client, session) -> None:
    a, b = buyers(session, 2)
    lead = offered_lead(session, consent_to=[a, b])
    token = link_token(session)

    answer = client.post(f"/api/v1/me/consents/{a.agency_id}/withdraw?token={token}")

    assert answer.status_code == 200
    assert client.get("/api/v1/leads", headers=a.headers).json()["items"] == []
    assert [i["id"] for i in client.get("/api/v1/leads", headers=b.headers).json()["items"]] == [
        str(lead)
    ]
    price = session.execute(
        text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :l"), {"l": lead}
    ).scalar_one()
    refused = client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=a.headers,
    )
    assert refused.status_code == 404
    other = buyers(session, 1)[0]
    unknown = client.post(f"/api/v1/me/consents/{other.agency_id}/withdraw?token={token}")
    assert unknown.status_code == 404
