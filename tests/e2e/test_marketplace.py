"""The marketplace over HTTP: the catalogue, purchases and their refusals, purchased contacts."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import pytest
from sqlalchemy import text

from tests.conftest import issue_key
from tests.market import buyers, end_exclusive_window, offered_lead, shift_offer

PHONE = re.compile(r"(?:\+33|0)\s?[1-9](?:[\s.-]?\d{2}){4}")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def buy(client, buyer, lead_id, mode="exclusive", price=None, key=None):  # type: ignore[no-untyped-def]
    if price is None:
        price = client.get(f"/api/v1/leads/{lead_id}", headers=buyer.headers).json()["price_cents"]
    headers = dict(buyer.headers)
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        f"/api/v1/leads/{lead_id}/purchase",
        json={"mode": mode, "price_cents": price},
        headers=headers,
    )


def test_the_catalogue_shows_consented_agencies_an_anonymised_offer(client, session) -> None:
    a, b, c = buyers(session, 3)
    lead = offered_lead(session, consent_to=[a, b])

    seen = client.get("/api/v1/leads", headers=a.headers).json()
    hidden = client.get("/api/v1/leads", headers=c.headers).json()

    assert [i["id"] for i in seen["items"]] == [str(lead)]
    assert hidden["items"] == []
    item = seen["items"][0]
    assert item["mode"] == "exclusive"
    assert item["slots_left"] == 1
    assert item["commune"] == "Rennes"
    assert item["postal_code"] == "35000"
    assert item["grade"] == "A"
    assert item["price_cents"] > 0
    raw = json.dumps(seen)
    assert not PHONE.search(raw)
    assert not EMAIL.search(raw)
    for secret in ("Jeanne", "Vendeuse", "street", "lat", "lon"):
        assert secret not in raw
    assert client.get(f"/api/v1/leads/{lead}", headers=c.headers).status_code == 404


def test_an_exclusive_purchase_reveals_the_contact_and_closes_the_lead(client, session) -> None:
    a, b = buyers(session, 2)
    lead = offered_lead(session)
    price = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]

    bought = buy(client, a, lead, price=price)

    assert bought.status_code == 201, bought.text
    body = bought.json()
    assert body["mode"] == "exclusive"
    assert body["price_cents"] == price
    assert body["contact"]["phone"].startswith("+336")
    assert body["contact"]["last_name"].startswith("Vendeuse")
    assert body["address"]["city"] == "Rennes"
    late = buy(client, b, lead, price=price)
    assert late.status_code == 409
    assert late.json()["code"] == "lead_unavailable"
    assert client.get("/api/v1/leads", headers=b.headers).json()["items"] == []
    ledger = session.execute(text("SELECT agency_id, kind, amount_cents FROM ledger_line")).all()
    assert [(r.agency_id, r.kind, r.amount_cents) for r in ledger] == [
        (a.agency_id, "purchase", price)
    ]
    allocation = session.execute(text("SELECT allocation FROM purchase")).scalar_one()
    assert allocation["agency_id"] == str(a.agency_id)
    assert allocation["price"]["grid_version"] == 1
    assert {c["agency_id"] for c in allocation["candidates"]} == {
        str(a.agency_id),
        str(b.agency_id),
    }
    assert allocation["reach"] == "zone"
    audit = session.execute(text("SELECT action, details FROM audit_log")).all()
    assert [r.action for r in audit] == ["contact.revealed"]
    assert "Vendeuse" not in json.dumps(audit[0].details)


def test_after_the_exclusive_window_the_lead_is_shared_up_to_the_cap(client, session) -> None:
    agencies = buyers(session, 5)
    lead = offered_lead(session)
    exclusive_price = client.get(f"/api/v1/leads/{lead}", headers=agencies[0].headers).json()
    end_exclusive_window(session, lead)  # no scheduler has run: the read says shared

    offer = client.get(f"/api/v1/leads/{lead}", headers=agencies[0].headers).json()
    assert offer["mode"] == "shared"
    assert offer["slots_left"] == 3
    assert offer["price_cents"] < exclusive_price["price_cents"]
    refused = buy(client, agencies[0], lead, mode="exclusive", price=offer["price_cents"])
    assert refused.status_code == 409
    assert refused.json()["code"] == "mode_unavailable"

    statuses = [buy(client, b, lead, mode="shared").status_code for b in agencies[:3]]
    assert statuses == [201, 201, 201]
    fourth = buy(client, agencies[3], lead, mode="shared", price=offer["price_cents"])
    assert fourth.status_code == 409
    assert fourth.json()["code"] == "lead_unavailable"
    again = buy(client, agencies[0], lead, mode="shared", price=offer["price_cents"])
    assert again.json()["code"] == "already_purchased"


def test_an_expired_offer_cannot_be_bought(client, session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    price = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]
    shift_offer(
        session,
        lead,
        created_at="now() - interval '31 days'",
        exclusive_until="now() - interval '30 days'",
        expires_at="now() - interval '1 second'",
    )

    answer = buy(client, a, lead, mode="shared", price=price)

    assert answer.json()["code"] == "lead_unavailable"
    assert client.get("/api/v1/leads", headers=a.headers).json()["items"] == []
    assert client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["phase"] == "expired"


def test_the_price_the_buyer_saw_must_still_be_the_price(client, session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    price = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]

    answer = buy(client, a, lead, price=price - 100)

    assert answer.status_code == 409
    assert answer.json()["code"] == "price_changed"
    assert answer.json()["price_cents"] == price
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 0


def test_a_new_price_grid_never_changes_a_price_already_shown(client, session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    shown = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]
    session.execute(
        text("""
            INSERT INTO price_grid (rules)
            SELECT jsonb_set(rules, '{base_cents,exclusive}', '50000') FROM price_grid
        """)
    )
    session.commit()
    later = offered_lead(session)

    assert client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"] == shown
    assert buy(client, a, lead, price=shown).status_code == 201
    new_price = client.get(f"/api/v1/leads/{later}", headers=a.headers).json()["price_cents"]
    assert new_price > shown


def test_the_monthly_budget_is_a_hard_cap(client, session) -> None:
    (a,) = buyers(session, 1)
    first, second = offered_lead(session), offered_lead(session)
    price = client.get(f"/api/v1/leads/{first}", headers=a.headers).json()["price_cents"]
    session.execute(
        text("UPDATE agency SET monthly_budget_cents = :b WHERE id = :a"),
        {"b": price + 100, "a": a.agency_id},
    )
    session.commit()

    assert buy(client, a, first, price=price).status_code == 201
    over = buy(client, a, second)

    assert over.status_code == 402
    assert over.json()["code"] == "budget_exceeded"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ("status = 'suspended'", 402, "account_suspended"),
        ("paused = true", 409, "agency_paused"),
    ],
)
def test_a_suspended_or_paused_agency_cannot_buy(client, session, change, status, code) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    price = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]
    session.execute(text(f"UPDATE agency SET {change} WHERE id = :a"), {"a": a.agency_id})
    session.commit()

    answer = buy(client, a, lead, price=price)

    assert answer.status_code == status
    assert answer.json()["code"] == code


def test_who_may_buy(client, session) -> None:
    a, outsider = buyers(session, 2)
    lead = offered_lead(session, consent_to=[a])
    price = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]
    body = {"mode": "exclusive", "price_cents": price}
    url = f"/api/v1/leads/{lead}/purchase"

    viewer = {"Authorization": f"Bearer {issue_key('viewer', a.agency_id)}"}
    staff = {"Authorization": f"Bearer {issue_key('admin')}"}
    assert client.post(url, json=body, headers=viewer).status_code == 403
    assert client.post(url, json=body, headers=staff).status_code == 403
    assert client.post(url, json=body).status_code == 401
    not_offered = client.post(url, json=body, headers=outsider.headers)
    assert not_offered.status_code == 404
    unknown = client.post(f"/api/v1/leads/{uuid.uuid4()}/purchase", json=body, headers=a.headers)
    assert unknown.status_code == 404
    owner = {"Authorization": f"Bearer {issue_key('owner', a.agency_id)}"}
    assert client.post(url, json=body, headers=owner).status_code == 201


def test_an_idempotency_key_replays_the_same_answer(client, session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    price = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]

    first = buy(client, a, lead, price=price, key="order-1")
    again = buy(client, a, lead, price=price, key="order-1")
    other = buy(client, a, lead, mode="shared", price=price, key="order-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 1


def test_bad_purchase_input_changes_nothing(client, session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    url = f"/api/v1/leads/{lead}/purchase"
    for body, path in [
        ({"mode": "both", "price_cents": 100}, "mode"),
        ({"mode": "exclusive", "price_cents": -1}, "price_cents"),
        ({"mode": "exclusive"}, "price_cents"),
        ({"mode": "exclusive", "price_cents": 100, "agency_id": str(a.agency_id)}, "agency_id"),
    ]:
        answer = client.post(url, json=body, headers=a.headers)
        assert answer.status_code == 422, body
        assert path in [e["path"] for e in answer.json()["errors"]]
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 0


def test_purchased_contacts_with_pipeline_notes_and_csv(client, session) -> None:
    a, b = buyers(session, 2)
    leads = [offered_lead(session) for _ in range(3)]
    for lead in leads:
        assert buy(client, a, lead).status_code == 201

    page = client.get("/api/v1/purchases?limit=2", headers=a.headers).json()
    rest = client.get(
        f"/api/v1/purchases?limit=2&cursor={page['next_cursor']}", headers=a.headers
    ).json()
    ids = [p["id"] for p in page["items"] + rest["items"]]
    assert len(set(ids)) == 3
    assert rest["next_cursor"] is None
    one = ids[0]
    changed = client.patch(
        f"/api/v1/purchases/{one}",
        json={"pipeline_status": "appointment", "notes": '=HYPERLINK("x") visite jeudi'},
        headers=a.headers,
    )
    assert changed.status_code == 200
    assert changed.json()["pipeline_status"] == "appointment"
    bad = client.patch(
        f"/api/v1/purchases/{one}", json={"pipeline_status": "won"}, headers=a.headers
    )
    assert bad.status_code == 422

    export = client.get("/api/v1/purchases.csv", headers=a.headers)
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == 3
    noted = next(r for r in rows if r["purchase_id"] == one)
    assert noted["notes"].startswith("'=")  # a spreadsheet will not run it
    assert noted["phone"].startswith("+336")

    # Another agency sees none of it.
    assert client.get(f"/api/v1/purchases/{one}", headers=b.headers).status_code == 404
    patched = client.patch(f"/api/v1/purchases/{one}", json={"notes": "x"}, headers=b.headers)
    assert patched.status_code == 404
    assert client.get("/api/v1/purchases", headers=b.headers).json()["items"] == []
    assert (
        len(
            list(
                csv.DictReader(
                    io.StringIO(client.get("/api/v1/purchases.csv", headers=b.headers).text)
                )
            )
        )
        == 0
    )


@pytest.mark.parametrize("sort", ["newest", "distance", "price"])
def test_the_catalogue_pages_cover_every_offer_once(client, session, sort) -> None:
    (a,) = buyers(session, 1)
    leads = {str(offered_lead(session, surface_m2=40 + 15 * n)) for n in range(5)}

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        url = f"/api/v1/leads?limit=2&sort={sort}" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=a.headers).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert sorted(seen) == sorted(leads)
    assert client.get("/api/v1/leads?cursor=garbage", headers=a.headers).status_code == 422


def test_catalogue_filters(client, session) -> None:
    (a,) = buyers(session, 1)
    house = offered_lead(session, property_type="maison", surface_m2=120)
    flat = offered_lead(session, timeline="curious")
    end_exclusive_window(session, flat)

    def ids(query: str) -> list[str]:
        return [
            i["id"] for i in client.get(f"/api/v1/leads?{query}", headers=a.headers).json()["items"]
        ]

    assert ids("property_type=maison") == [str(house)]
    assert ids("mode=shared") == [str(flat)]
    assert ids("min_grade=A") == [str(house)]
    assert ids("max_distance_km=0.001") == []
    assert client.get("/api/v1/leads?min_grade=Z", headers=a.headers).status_code == 422
