"""Refunds over HTTP: requests and their refusals, automatic decisions, finance's decisions and
their effect on the money, on real PostGIS (and localstripe for paid invoices)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from engine.billing import stripe_gateway as gateway
from engine.billing.run import run_billing
from tests.conftest import issue_key
from tests.integration.test_billing import save_card, this_month
from tests.market import Buyer, buyers, offered_lead


def bought(client, session, agency: Buyer, **lead: Any) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    lead_id = offered_lead(session, consent_to=[agency], **lead)
    price = session.execute(
        text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :l"), {"l": lead_id}
    ).scalar_one()
    answer = client.post(
        f"/api/v1/leads/{lead_id}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=agency.headers,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["purchase_id"], price


def ask(client, agency: Buyer, purchase: str, reason: str = "not_owner", **body: Any):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/purchases/{purchase}/refund-requests",
        json={"reason": reason, **body},
        headers=agency.headers,
    )


def finance() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_key('finance')}"}


def test_a_request_awaits_finance_and_both_sides_see_it(client, session) -> None:
    a, b = buyers(session, 2)
    purchase, _ = bought(client, session, a)

    answer = ask(client, a, purchase, comment="Le propriétaire est son frère.")

    assert answer.status_code == 201
    assert (answer.json()["status"], answer.json()["rule"]) == ("pending", None)
    mine = client.get("/api/v1/refund-requests", headers=a.headers).json()["items"]
    assert [r["id"] for r in mine] == [answer.json()["id"]]
    assert client.get("/api/v1/refund-requests", headers=b.headers).json()["items"] == []
    queue = client.get("/api/v1/refund-requests?status=pending", headers=finance()).json()
    assert [r["id"] for r in queue["items"]] == [answer.json()["id"]]
    assert queue["items"][0]["agency_refund_rate"] == 0.0
    assert queue["median_refund_rate"] == 0.0


@pytest.mark.parametrize(
    ("body", "path", "code"),
    [
        ({"reason": "other"}, "comment", "required"),
        ({"reason": "unreachable"}, "call_attempts", "required"),
        (
            {"reason": "unreachable", "call_attempts": ["2099-01-01T10:00:00+01:00"]},
            "call_attempts[0]",
            "invalid_call_attempt",
        ),
        (
            {"reason": "unreachable", "call_attempts": ["2026-01-01T10:00:00"]},
            "call_attempts[0]",
            "invalid_call_attempt",
        ),
        ({"reason": "too_expensive"}, "reason", None),
        ({"reason": "fake", "amount_cents": 5}, "amount_cents", None),
    ],
)
def test_bad_requests_are_422_and_store_nothing(client, session, body, path, code) -> None:
    (a,) = buyers(session, 1)
    purchase, _ = bought(client, session, a)

    answer = client.post(
        f"/api/v1/purchases/{purchase}/refund-requests", json=body, headers=a.headers
    )

    assert answer.status_code == 422, answer.text
    errors = {e["path"]: e["code"] for e in answer.json()["errors"]}
    assert path in errors
    if code:
        assert errors[path] == code
    assert session.execute(text("SELECT count(*) FROM refund_request")).scalar_one() == 0


def test_refused_when_repeated_by_a_viewer_or_for_another_agency(client, session) -> None:
    a, b = buyers(session, 2)
    purchase, _ = bought(client, session, a)
    viewer = Buyer(a.agency_id, issue_key("viewer", a.agency_id))

    assert ask(client, viewer, purchase).status_code == 403
    assert ask(client, b, purchase).status_code == 404
    assert ask(client, a, purchase).status_code == 201
    again = ask(client, a, purchase, reason="fake")
    assert again.status_code == 409
    assert again.json()["code"] == "refund_already_requested"


def test_a_late_request_is_rejected_by_rule(client, session) -> None:
    (a,) = buyers(session, 1)
    purchase, _ = bought(client, session, a)
    session.execute(
        text("UPDATE purchase SET created_at = created_at - interval '8 days' WHERE id = :p"),
        {"p": purchase},
    )
    session.commit()

    answer = ask(client, a, purchase, reason="fake")

    assert answer.status_code == 409
    assert answer.json()["code"] == "refund_window_closed"
    row = session.execute(text("SELECT status, decision_rule FROM refund_request")).one()
    assert tuple(row) == ("rejected", "auto:late")


def test_a_duplicate_of_a_lead_the_agency_bought_is_approved_and_withdrawn_for_all(
    client, session
) -> None:
    a, b = buyers(session, 2)
    first, _ = bought(client, session, a, postal_code="35000", city="Rennes")
    second_lead = offered_lead(
        session, consent_to=[a, b], postal_code="35510", city="Cesson-Sévigné"
    )
    # The same homeowner, a second commune: Mandat's duplicate rule (same commune) missed it.
    session.execute(
        text("""
            UPDATE lead SET phone_e164 = (SELECT l.phone_e164 FROM purchase p
                                          JOIN lead l ON l.id = p.lead_id WHERE p.id = :p)
            WHERE id = :l
        """),
        {"p": first, "l": second_lead},
    )
    session.commit()
    end = session.execute(
        text(
            "UPDATE offer SET exclusive_until = now() - interval '1 second', "
            "created_at = now() - interval '2 days' WHERE lead_id = :l RETURNING shared_price_cents"
        ),
        {"l": second_lead},
    ).scalar_one()
    session.commit()
    second = client.post(
        f"/api/v1/leads/{second_lead}/purchase",
        json={"mode": "shared", "price_cents": end},
        headers=a.headers,
    ).json()["purchase_id"]

    answer = ask(client, a, second, reason="duplicate")

    assert answer.json()["status"] == "approved"
    assert answer.json()["rule"] == "auto:duplicate"
    ledger = (
        session.execute(text("SELECT amount_cents FROM ledger_line WHERE kind = 'refund'"))
        .scalars()
        .all()
    )
    assert ledger == [-end]
    assert client.get("/api/v1/leads", headers=b.headers).json()["items"] == []
    withdrawn = session.execute(
        text("SELECT withdrawn_reason FROM offer WHERE lead_id = :l"), {"l": second_lead}
    ).scalar_one()
    assert withdrawn == "refund:duplicate"
    actions = session.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars().all()
    assert actions[-2:] == ["refund.requested", "refund.approved"]


def test_consent_withdrawn_and_invalid_phone_are_approved_by_rule(client, session) -> None:
    agencies = buyers(session, 2)  # one case each: a refund moves its agency's refund rate
    cases = {}
    for agency, reason in zip(agencies, ("not_owner", "wrong_number"), strict=True):
        cases[reason] = (agency, bought(client, session, agency)[0])
    lead_of = "(SELECT lead_id FROM purchase WHERE id = :p)"
    session.execute(
        text(f"UPDATE lead_consent SET withdrawn_at = now() WHERE lead_id = {lead_of}"),
        {"p": cases["not_owner"][1]},
    )
    session.execute(
        text(f"UPDATE lead SET phone_e164 = '+3300' WHERE id = {lead_of}"),
        {"p": cases["wrong_number"][1]},
    )
    session.commit()

    rules = {
        reason: ask(client, agency, purchase, reason=reason).json()["rule"]
        for reason, (agency, purchase) in cases.items()
    }

    assert rules == {
        "not_owner": "auto:consent_withdrawn",
        "wrong_number": "auto:invalid_phone",
    }


def test_F12_a_lead_bought_as_extended_reach_is_not_refunded_as_out_of_zone(
    client, session
) -> None:
    """Issue 12 reverses the rule this test replaces (out of zone used to be approved by rule
    for extended reach): the catalogue shows the reach before the purchase, so an agency could
    buy far leads, call them, and get its money back automatically while keeping the contact."""
    extended, in_zone = buyers(session, 2)
    far = bought(client, session, extended)[0]
    near = bought(client, session, in_zone)[0]
    session.execute(
        text(
            "UPDATE purchase SET allocation = jsonb_set(allocation, '{reach}', '\"extended_30\"')"
            " WHERE id = :p"
        ),
        {"p": far},
    )
    session.commit()

    refused = ask(client, extended, far, reason="out_of_zone").json()
    assert (refused["status"], refused["rule"]) == ("rejected", "auto:bought_as_extended")
    pending = ask(client, in_zone, near, reason="out_of_zone").json()
    assert (pending["status"], pending["rule"]) == ("pending", None)  # finance decides
    refunded = session.execute(
        text("SELECT count(*) FROM ledger_line WHERE kind = 'refund'")
    ).scalar_one()
    assert refunded == 0


def test_an_agency_over_the_refund_rate_goes_to_manual_review(client, session) -> None:
    (a,) = buyers(session, 1)
    first, _ = bought(client, session, a)
    second, _ = bought(client, session, a)
    for purchase in (first, second):
        session.execute(
            text(
                "UPDATE lead_consent SET withdrawn_at = now()"
                " WHERE lead_id = (SELECT lead_id FROM purchase WHERE id = :p)"
            ),
            {"p": purchase},
        )
    session.commit()
    assert ask(client, a, first).json()["status"] == "approved"  # 0 % before: by rule

    answer = ask(client, a, second)  # now 50 % of 30 days' purchases refunded

    assert answer.json()["status"] == "pending"
    review = session.execute(
        text("SELECT review_reason FROM refund_request WHERE id = :id"), {"id": answer.json()["id"]}
    ).scalar_one()
    assert review == "refund_rate_over_threshold"


def test_finance_approves_in_part_or_rejects_always_with_a_note(client, session) -> None:
    (a,) = buyers(session, 1)
    one, price = bought(client, session, a)
    two, _ = bought(client, session, a)
    first = ask(client, a, one).json()["id"]
    second = ask(client, a, two, reason="already_sold_or_under_mandate").json()["id"]
    url = "/api/v1/refund-requests/{}/decision"

    no_note = client.post(
        url.format(first), json={"decision": "approve", "note": " "}, headers=finance()
    )
    too_much = client.post(
        url.format(first),
        json={"decision": "approve", "amount_cents": price + 1, "note": "ok"},
        headers=finance(),
    )
    agency_tries = client.post(
        url.format(first), json={"decision": "approve", "note": "x"}, headers=a.headers
    )
    half = client.post(
        url.format(first),
        json={"decision": "approve", "amount_cents": price // 2, "note": "Moitié: appel tardif."},
        headers=finance(),
    )
    rejected = client.post(
        url.format(second),
        json={"decision": "reject", "note": "Mandat signé après achat."},
        headers=finance(),
    )

    assert no_note.status_code == 422
    assert too_much.status_code == 422
    assert too_much.json()["errors"][0]["code"] == "refund_exceeds_price"
    assert agency_tries.status_code == 403
    assert half.status_code == 200
    assert (half.json()["status"], half.json()["approved_amount_cents"]) == ("approved", price // 2)
    assert half.json()["decision_rule"] == "manual"
    assert rejected.json()["status"] == "rejected"
    refunds = (
        session.execute(text("SELECT amount_cents FROM ledger_line WHERE kind = 'refund'"))
        .scalars()
        .all()
    )
    assert refunds == [-(price // 2)]
    notified = session.execute(
        text("SELECT count(DISTINCT event_key) FROM outbox WHERE event = 'refund.decided'")
    ).scalar_one()
    assert notified == 2
    again = client.post(
        url.format(first), json={"decision": "reject", "note": "x"}, headers=finance()
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already_decided"


@pytest.mark.usefixtures("stripe_fake")
def test_approved_on_a_paid_invoice_is_a_credit_note_and_a_stripe_refund(client, session) -> None:
    (a,) = buyers(session, 1, role="owner")
    save_card(client, a, "pm_card_visa")
    purchase, price = bought(client, session, a)
    period, after = this_month()
    run_billing(period.date(), after)
    invoice = session.execute(text("SELECT * FROM invoice")).mappings().one()
    request = ask(client, a, purchase, reason="fake").json()["id"]

    decided = client.post(
        f"/api/v1/refund-requests/{request}/decision",
        json={"decision": "approve", "note": "Faux contact avéré."},
        headers=finance(),
    )

    assert decided.json()["stripe_refund"] == "refunded"
    note = session.execute(text("SELECT * FROM credit_note")).mappings().one()
    assert note["invoice_id"] == invoice["id"]
    assert note["total_ht_cents"] == price
    assert note["refund_status"] == "refunded"
    assert decided.json()["credit_note_id"] == str(note["id"])
    assert gateway.refund_amount(note["stripe_refund_id"]) == note["total_ttc_cents"]
    assert (
        invoice["total_ht_cents"] - note["total_ht_cents"]
        == session.execute(text("SELECT sum(amount_cents) FROM ledger_line")).scalar_one()
    )


@pytest.mark.usefixtures("stripe_fake")
def test_two_clerks_deciding_at_once_make_one_decision_and_one_refund(
    live_server, client, session
) -> None:
    (a,) = buyers(session, 1, role="owner")
    save_card(client, a, "pm_card_visa")
    purchase, _ = bought(client, session, a)
    period, after = this_month()
    run_billing(period.date(), after)
    request = ask(client, a, purchase, reason="not_owner").json()["id"]
    clerks = [finance() for _ in range(2)]

    def decide(headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            f"{live_server}/api/v1/refund-requests/{request}/decision",
            json={"decision": "approve", "note": "Vérifié."},
            headers=headers,
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(decide, clerks * 4))

    assert Counter(x.status_code for x in answers) == {200: 1, 409: 7}
    assert session.execute(text("SELECT count(*) FROM credit_note")).scalar_one() == 1
    assert (
        session.execute(text("SELECT count(*) FROM ledger_line WHERE kind = 'refund'")).scalar_one()
        == 1
    )
    assert (
        session.execute(
            text("SELECT count(*) FROM credit_note WHERE refund_status = 'refunded'")
        ).scalar_one()
        == 1
    )


def test_finance_filters_the_queue(client, session) -> None:
    a, b = buyers(session, 2)
    pa, _ = bought(client, session, a)
    pb, _ = bought(client, session, b)
    ask(client, a, pa, reason="fake")
    ask(client, b, pb, reason="not_owner")
    session.execute(
        text(
            "UPDATE refund_request SET created_at = created_at - interval '3 days'"
            " WHERE reason = 'fake'"
        )
    )
    session.commit()

    def ids(query: str) -> list[str]:
        return [
            r["reason"]
            for r in client.get(f"/api/v1/refund-requests?{query}", headers=finance()).json()[
                "items"
            ]
        ]

    assert ids("") == ["fake", "not_owner"]  # oldest first
    assert ids("reason=not_owner") == ["not_owner"]
    assert ids(f"agency_id={a.agency_id}") == ["fake"]
    assert ids("min_age_days=2") == ["fake"]
