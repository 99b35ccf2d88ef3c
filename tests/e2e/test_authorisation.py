"""Every route with an id, called by every role of another agency on agency A's objects: 404
(the object does not exist for them) or 403 for staff-only routes, and nothing changes.
The routes are read from the application itself: a new route with an id fails this test until
it is listed here with the object it names."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from api.app import create_app
from engine.billing.documents import PARIS, bill_agency
from engine.billing.ledger import add_refund_line
from tests.conftest import issue_key
from tests.market import buyers, offered_lead

STAFF_ONLY = {
    "/api/v1/admin/leads/{lead_id:uuid}",
    "/api/v1/refund-requests/{request_id:uuid}/decision",
    "/api/v1/billing/runs/{run_id:uuid}",
    "/api/v1/admin/partners/{slug:str}",
}
BODIES: dict[str, Any] = {
    "POST /api/v1/leads/{lead_id:uuid}/purchase": {"mode": "exclusive", "price_cents": 100},
    "PATCH /api/v1/purchases/{purchase_id:uuid}": {"notes": "mine now"},
    "POST /api/v1/agencies/{agency_id:uuid}/api-keys": {"role": "owner"},
    "PATCH /api/v1/agency/api-keys/{key_id:uuid}": {"role": "viewer"},
    "POST /api/v1/agencies/{agency_id:uuid}/invitations": {
        "email": "intruder@agence.example",
        "name": "Intrus",
        "role": "owner",
    },
    "POST /api/v1/purchases/{purchase_id:uuid}/refund-requests": {"reason": "fake"},
    "POST /api/v1/purchases/{purchase_id:uuid}/interactions": {"kind": "call"},
    "POST /api/v1/purchases/{purchase_id:uuid}/reminders": {
        "due_at": "2030-01-01T09:00:00+01:00",
        "note": "Rappeler",
    },
    "POST /api/v1/refund-requests/{request_id:uuid}/decision": {"decision": "approve", "note": "x"},
    "POST /api/v1/estimations/{estimation_id:uuid}/lead": None,  # public: the id is the secret
    "POST /api/v1/me/consents/{agency_id:uuid}/withdraw": None,  # the homeowner's signed link
    "PATCH /api/v1/admin/partners/{slug:str}": {"allowed_origins": ["https://evil.example"]},
}


def routes_with_ids() -> list[tuple[str, str]]:
    found = []
    for route in create_app().routes:
        if "{" not in route.path or not route.path.startswith("/api/v1"):
            continue
        for method in sorted(getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}):
            found.append((method, route.path))
    return found


def billed_documents(session, agency_id, purchase_id) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    """An invoice for this month's purchase, then a credit note for its refund next month."""
    now = datetime.now(PARIS)
    period = now.date().replace(day=1)
    following = (period + timedelta(days=32)).replace(day=1)
    after = datetime(following.year, following.month, 1, 1, tzinfo=PARIS)
    invoice = bill_agency(session, agency_id, period, after).invoice
    add_refund_line(session, purchase_id, 100)
    later = (following + timedelta(days=32)).replace(day=1)
    note = bill_agency(
        session, agency_id, following, datetime(later.year, later.month, 1, 1, tzinfo=PARIS)
    ).credit_notes[0]
    session.commit()
    assert invoice is not None
    return invoice.id, note.id


def table_checksum(session) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    digest = "md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))"
    return tuple(
        session.execute(text(f"SELECT {digest} FROM {table} t")).scalar_one()
        for table in (
            "purchase",
            "offer",
            # When a key was last used is the intruder's own key's, written by its use.
            "(SELECT id, prefix, secret_hash, role, agency_id, label, created_at, revoked_at,"
            " expires_at FROM api_key)",
            "agency",
            "ledger_line",
            "invoice",
            "credit_note",
            "refund_request",
            "agency_user",
            "contact_interaction",
            "contact_reminder",
        )
    )


def test_another_agency_never_reaches_agency_a_objects(client, session) -> None:
    a, b = buyers(session, 2, role="owner")
    lead = offered_lead(session, consent_to=[a])  # offered to A only
    price = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]
    bought = client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=a.headers,
    ).json()
    a_key = client.get("/api/v1/agency/api-keys", headers=a.headers).json()[0]["id"]
    invoice, credit_note = billed_documents(session, a.agency_id, bought["purchase_id"])
    request = client.post(
        f"/api/v1/purchases/{bought['purchase_id']}/refund-requests",
        json={"reason": "not_owner"},
        headers=a.headers,
    ).json()["id"]
    ids = {
        "lead_id": lead,
        "purchase_id": bought["purchase_id"],
        "agency_id": a.agency_id,
        "key_id": a_key,
        "doc_id": invoice,
        "request_id": request,
        "run_id": session.execute(
            text("INSERT INTO billing_run (period) VALUES ('2026-01-01') RETURNING id")
        ).scalar_one(),
    }
    session.commit()
    intruders = {role: issue_key(role, b.agency_id) for role in ("owner", "buyer", "viewer")}
    before = table_checksum(session)

    checked = 0
    for method, path in routes_with_ids():
        if f"{method} {path}" in BODIES and BODIES[f"{method} {path}"] is None:
            continue
        names = re.findall(r"\{(\w+):uuid\}", path)
        assert all(n in ids for n in names), f"list the object for {method} {path}"
        named = {**ids, "doc_id": credit_note} if "credit-notes" in path else ids
        url = re.sub(r"\{(\w+):uuid\}", lambda m, named=named: str(named[m.group(1)]), path)
        for role, key in intruders.items():
            answer = client.request(
                method,
                url,
                json=BODIES.get(f"{method} {path}"),
                headers={"Authorization": f"Bearer {key}"},
            )
            expected = {403} if path in STAFF_ONLY else {404}
            if role == "viewer" or (role == "buyer" and "api-keys" in path):
                expected |= {403}  # refused for the role before the object is looked up
            assert answer.status_code in expected, (method, path, role, answer.status_code)
            checked += 1

    assert checked >= 8 * 3
    assert table_checksum(session) == before


def test_a_viewer_sees_the_catalogue_but_cannot_buy(client, session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    viewer = {"Authorization": f"Bearer {issue_key('viewer', a.agency_id)}"}
    offer = client.get(f"/api/v1/leads/{lead}", headers=viewer)

    answer = client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": offer.json()["price_cents"]},
        headers=viewer,
    )

    assert offer.status_code == 200
    assert answer.status_code == 403
    assert answer.json()["code"] == "forbidden_role"
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 0
