"""Monthly billing collected through Stripe: the official SDK against localstripe on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from engine.billing import stripe_gateway as gateway
from engine.billing.documents import PARIS, bill_agency
from engine.billing.dunning import run_dunning
from engine.billing.ledger import add_refund_line
from engine.billing.run import run_billing
from engine.config import owner_database_url
from engine.db import unit_of_work
from engine.settings import read_settings
from tests.market import Buyer, buyers, offered_lead

pytestmark = pytest.mark.usefixtures("stripe_fake")


def this_month() -> tuple[datetime, datetime]:
    """The current month and an instant just after it ends: billing it 'next month'."""
    now = datetime.now(PARIS)
    period = now.date().replace(day=1)
    following = (period + timedelta(days=32)).replace(day=1)
    return datetime(period.year, period.month, 1, tzinfo=PARIS), datetime(
        following.year, following.month, 1, 1, tzinfo=PARIS
    )


def save_card(client, buyer: Buyer, card: str) -> Any:  # type: ignore[no-untyped-def]
    return client.put(
        "/api/v1/agency/payment-method", json={"payment_method_id": card}, headers=buyer.headers
    )


def buy(client, session, buyer: Buyer, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    prices = []
    for _ in range(count):
        lead = offered_lead(session, consent_to=[buyer])
        price = client.get(f"/api/v1/leads/{lead}", headers=buyer.headers).json()["price_cents"]
        answer = client.post(
            f"/api/v1/leads/{lead}/purchase",
            json={"mode": "exclusive", "price_cents": price},
            headers=buyer.headers,
        )
        assert answer.status_code == 201, answer.text
        prices.append(price)
    return prices


def invoices(session) -> list[Any]:  # type: ignore[no-untyped-def]
    return (
        session.execute(
            text("""
            SELECT i.*, (SELECT count(*) FROM payment_attempt p WHERE p.invoice_id = i.id)
                AS attempts
            FROM invoice i ORDER BY number
        """)
        )
        .mappings()
        .all()
    )


def test_a_month_billed_paid_by_one_agency_and_declined_for_the_other(client, session) -> None:
    good, bad = buyers(session, 2, role="owner")
    assert save_card(client, good, "pm_card_visa").status_code == 200
    assert save_card(client, bad, "pm_card_chargeCustomerFail").status_code == 200
    good_prices = buy(client, session, good, 3)
    bad_prices = buy(client, session, bad, 2)
    period, after = this_month()

    report = run_billing(period.date(), after)

    assert (report.invoices, report.paid, report.failed) == (2, 1, 1)
    rows = {r["agency_id"]: r for r in invoices(session)}
    year = after.year
    assert sorted(r["number"] for r in rows.values()) == [f"F-{year}-000001", f"F-{year}-000002"]
    paid, failed = rows[good.agency_id], rows[bad.agency_id]
    assert paid["total_ht_cents"] == sum(good_prices)
    assert paid["vat_rate_bp"] == 2000  # Rennes: mainland VAT
    assert paid["vat_cents"] == round(sum(good_prices) * 0.2)
    assert paid["total_ttc_cents"] == paid["total_ht_cents"] + paid["vat_cents"]
    assert paid["status"] == "paid"
    assert paid["buyer"]["siren"] == paid["buyer"]["siret"][:9]
    intent = gateway.payment_intent(paid["stripe_payment_intent_id"])
    assert (intent["amount"], intent["status"]) == (paid["total_ttc_cents"], "succeeded")
    assert failed["status"] == "payment_failed"
    assert failed["total_ht_cents"] == sum(bad_prices)
    dunning = session.execute(text("SELECT agency_id FROM dunning")).scalars().all()
    assert dunning == [bad.agency_id]

    again = run_billing(period.date(), after)  # idempotent: nothing new, nobody charged twice
    assert (again.invoices, again.paid, again.failed) == (0, 0, 0)
    assert [r["attempts"] for r in invoices(session)] == [1, 1]


def test_a_declined_payment_leads_to_reminders_suspension_and_back(client, session) -> None:
    (agency,) = buyers(session, 1, role="owner")
    save_card(client, agency, "pm_card_chargeCustomerFail")
    buy(client, session, agency, 1)
    period, after = this_month()
    run_billing(period.date(), after)
    failed_at = session.execute(text("SELECT failed_at FROM dunning")).scalar_one()
    settings = read_settings(session)
    lead = offered_lead(session, consent_to=[agency])  # offered before the suspension

    steps = {
        days: run_dunning(session, failed_at + timedelta(days=days, minutes=1), settings)
        for days in (1, 3, 7, 15, 16)
    }
    session.commit()

    assert [steps[d]["reminded"] for d in (1, 3, 7, 15, 16)] == [0, 1, 1, 0, 0]
    assert [steps[d]["suspended"] for d in (1, 3, 7, 15, 16)] == [0, 0, 0, 1, 0]
    events = session.execute(
        text("SELECT event FROM outbox WHERE event LIKE 'invoice.%' OR event LIKE 'agency.%'")
    ).all()
    assert sorted({e.event for e in events}) == [
        "agency.suspended",
        "invoice.payment_failed",
        "invoice.payment_reminder",
    ]
    price = session.execute(
        text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :l"), {"l": lead}
    ).scalar_one()
    body = {"mode": "exclusive", "price_cents": price}
    refused = client.post(f"/api/v1/leads/{lead}/purchase", json=body, headers=agency.headers)
    assert refused.status_code == 402
    assert refused.json()["code"] == "account_suspended"

    card = save_card(client, agency, "pm_card_visa")  # a new card: the invoice is paid at once

    assert list(card.json()["retried_invoices"].values()) == ["paid"]
    assert session.execute(text("SELECT status FROM agency")).scalar_one() == "active"
    bought = client.post(f"/api/v1/leads/{lead}/purchase", json=body, headers=agency.headers)
    assert bought.status_code == 201
    assert [r["attempts"] for r in invoices(session)] == [2]


def test_stripe_unreachable_mid_run_then_the_run_resumed_charges_once(
    client, session, monkeypatch
) -> None:
    agencies = buyers(session, 3, role="owner")
    for agency in agencies:
        save_card(client, agency, "pm_card_visa")
        buy(client, session, agency, 1)
    period, after = this_month()
    real_base = os.environ["STRIPE_API_BASE"]
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9")  # nothing listens there

    first = run_billing(period.date(), after)

    assert (first.invoices, first.paid, first.unreachable) == (3, 0, 3)
    assert {r["status"] for r in invoices(session)} == {"open"}
    monkeypatch.setenv("STRIPE_API_BASE", real_base)
    resumed = run_billing(period.date(), after)

    assert (resumed.invoices, resumed.paid) == (0, 3)
    rows = invoices(session)
    assert {r["status"] for r in rows} == {"paid"}
    assert [r["attempts"] for r in rows] == [1, 1, 1]  # the same attempt, the same key
    keys = session.execute(text("SELECT idempotency_key FROM payment_attempt")).scalars().all()
    assert sorted(keys) == sorted(f"invoice-{r['id']}-attempt-1" for r in rows)


def test_a_run_killed_after_some_agencies_finishes_without_duplicates(client, session) -> None:
    agencies = buyers(session, 4, role="owner")
    for agency in agencies:
        save_card(client, agency, "pm_card_visa")
        buy(client, session, agency, 2)
    period, after = this_month()
    # The first agency's documents were written, then the process died.
    bill_agency(session, agencies[0].agency_id, period.date(), after)
    session.commit()

    report = run_billing(period.date(), after)

    rows = invoices(session)
    assert report.invoices == 3
    assert len(rows) == 4
    assert len({r["agency_id"] for r in rows}) == 4
    assert [r["number"][-6:] for r in rows] == ["000001", "000002", "000003", "000004"]
    assert {r["status"] for r in rows} == {"paid"}


def test_two_runs_at_once_make_one_invoice_per_agency_and_a_gap_free_series(
    client, session
) -> None:
    agencies = buyers(session, 6, role="owner")
    for agency in agencies:
        save_card(client, agency, "pm_card_visa")
        buy(client, session, agency, 1)
    period, after = this_month()
    reports: list[Any] = []
    threads = [
        threading.Thread(target=lambda: reports.append(run_billing(period.date(), after)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    rows = invoices(session)
    assert sum(r.invoices for r in reports) == 6
    assert len(rows) == 6
    assert [int(r["number"][-6:]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {r["status"] for r in rows} == {"paid"}
    assert all(r["attempts"] == 1 for r in rows)


def test_a_refund_on_a_paid_invoice_is_a_credit_note_and_a_stripe_refund(client, session) -> None:
    (agency,) = buyers(session, 1, role="owner")
    save_card(client, agency, "pm_card_visa")
    prices = buy(client, session, agency, 2)
    period, after = this_month()
    run_billing(period.date(), after)
    purchase = (
        session.execute(text("SELECT id FROM purchase ORDER BY created_at")).scalars().first()
    )
    add_refund_line(session, purchase, prices[0])
    session.commit()

    # The refund is billed with the following month.
    following = (after + timedelta(days=32)).replace(day=1, hour=1)
    report = run_billing(after.date().replace(day=1), following)

    assert (report.invoices, report.credit_notes, report.refunds) == (0, 1, 1)
    note = session.execute(text("SELECT * FROM credit_note")).mappings().one()
    invoice = invoices(session)[0]
    assert note["total_ht_cents"] == prices[0]
    assert note["invoice_id"] == invoice["id"]
    assert note["number"].startswith("A-")
    assert note["refund_status"] == "refunded"
    charge = gateway.payment_intent(invoice["stripe_payment_intent_id"])
    refunded = charge.get("latest_charge") or (charge.get("charges") or {}).get("data", [{}])[0]
    if isinstance(refunded, dict):
        assert refunded["amount_refunded"] == note["total_ttc_cents"]
    ledger = session.execute(text("SELECT sum(amount_cents) FROM ledger_line")).scalar_one()
    assert invoice["total_ht_cents"] - note["total_ht_cents"] == ledger
    with pytest.raises(Exception, match="never more"):
        add_refund_line(session, purchase, 100)
    session.rollback()


def test_a_credit_note_on_an_unpaid_invoice_is_deducted_from_its_charge_and_not_refunded_again(
    client, session
) -> None:
    (agency,) = buyers(session, 1, role="owner")
    prices = buy(client, session, agency, 2)
    period, after = this_month()
    run_billing(period.date(), after)  # no card yet: the invoice stays unpaid
    purchase = (
        session.execute(text("SELECT id FROM purchase ORDER BY created_at")).scalars().first()
    )
    add_refund_line(session, purchase, prices[0])
    session.commit()
    following = (after + timedelta(days=32)).replace(day=1, hour=1)
    report = run_billing(after.date().replace(day=1), following)
    assert (report.credit_notes, report.refunds) == (1, 0)  # the invoice is not paid: no refund

    assert save_card(client, agency, "pm_card_visa").status_code == 200  # charges what is due
    invoice = invoices(session)[0]
    note = session.execute(text("SELECT * FROM credit_note")).mappings().one()
    assert invoice["status"] == "paid"
    charged = gateway.payment_intent(invoice["stripe_payment_intent_id"])["amount"]
    assert charged == invoice["total_ttc_cents"] - note["total_ttc_cents"]
    assert note["refund_status"] == "deducted"

    later = (following + timedelta(days=32)).replace(day=1, hour=1)
    report = run_billing(following.date().replace(day=1), later)
    assert report.refunds == 0, "the credit note was paid back once already, by a smaller charge"
    session.rollback()
    assert session.execute(
        text("SELECT refund_status, stripe_refund_id FROM credit_note")
    ).one() == (
        "deducted",
        None,
    )


def test_a_refund_before_billing_is_a_negative_line_on_the_same_invoice(client, session) -> None:
    (agency,) = buyers(session, 1, role="owner")
    save_card(client, agency, "pm_card_visa")
    prices = buy(client, session, agency, 2)
    purchase = (
        session.execute(text("SELECT id FROM purchase ORDER BY created_at")).scalars().first()
    )
    add_refund_line(session, purchase, 1_000)
    session.commit()
    period, after = this_month()

    run_billing(period.date(), after)

    invoice = invoices(session)[0]
    assert invoice["total_ht_cents"] == sum(prices) - 1_000
    lines = (
        session.execute(text("SELECT amount_ht_cents FROM document_line ORDER BY amount_ht_cents"))
        .scalars()
        .all()
    )
    assert lines[0] == -1_000
    assert len(lines) == 3


def test_each_line_says_what_was_bought_where_and_on_which_paris_day(client, session) -> None:
    (agency,) = buyers(session, 1, role="owner")
    save_card(client, agency, "pm_card_visa")
    buy(client, session, agency, 2)
    purchase = session.execute(text("SELECT id FROM purchase ORDER BY created_at")).scalar()
    add_refund_line(session, purchase, 1_000)
    session.commit()
    period, after = this_month()

    run_billing(period.date(), after)

    written = session.execute(
        text("""
            SELECT d.description, l.kind, l.created_at, c.name AS commune
            FROM document_line d
            JOIN ledger_line l ON l.id = d.ledger_line_id
            JOIN purchase p ON p.id = l.purchase_id
            JOIN lead ON lead.id = p.lead_id
            JOIN commune c ON c.code = lead.commune_code
            ORDER BY d.id
        """)
    ).all()
    assert len(written) == 3
    for line in written:
        what = "Contact vendeur" if line.kind == "purchase" else "Remboursement contact vendeur"
        day = line.created_at.astimezone(PARIS).strftime("%d/%m/%Y")
        assert line.description == f"{what} exclusif — {line.commune} — {day}"
    assert [line.kind for line in written].count("refund") == 1


def test_documents_read_as_json_html_and_csv_by_their_agency_and_finance(client, session) -> None:
    owner, other = buyers(session, 2, role="owner")
    save_card(client, owner, "pm_card_visa")
    buy(client, session, owner, 2)
    period, after = this_month()
    run_billing(period.date(), after)
    invoice_id = invoices(session)[0]["id"]
    from tests.conftest import issue_key

    finance = {"Authorization": f"Bearer {issue_key('finance')}"}

    mine = client.get(f"/api/v1/invoices/{invoice_id}", headers=owner.headers)
    page = client.get(f"/api/v1/invoices/{invoice_id}/html", headers=owner.headers)
    lines = client.get(f"/api/v1/invoices/{invoice_id}/lines.csv", headers=owner.headers)

    assert mine.status_code == 200
    assert mine.json()["status"] == "paid"
    assert len(mine.json()["lines"]) == 2
    assert page.headers["content-type"].startswith("text/html")
    assert mine.json()["number"] in page.text
    assert "SIREN" in page.text
    assert "Total TTC" in page.text
    assert lines.text.count("\n") == 3
    assert client.get(f"/api/v1/invoices/{invoice_id}", headers=other.headers).status_code == 404
    assert client.get("/api/v1/invoices", headers=other.headers).json()["items"] == []
    assert client.get(f"/api/v1/invoices/{invoice_id}", headers=finance).status_code == 200
    assert len(client.get("/api/v1/invoices?status=paid", headers=finance).json()["items"]) == 1


def test_a_month_is_billed_only_once_it_has_ended(client, session) -> None:
    from tests.conftest import issue_key

    finance = {"Authorization": f"Bearer {issue_key('finance')}"}
    current = datetime.now(PARIS).strftime("%Y-%m")

    answer = client.post("/api/v1/billing/runs", json={"period": current}, headers=finance)
    bad = client.post("/api/v1/billing/runs", json={"period": "2026-13"}, headers=finance)
    agency_key = client.post(
        "/api/v1/billing/runs", json={"period": "2020-01"}, headers=buyers(session, 1)[0].headers
    )

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["code"] == "period_not_ended"
    assert bad.status_code == 422
    assert agency_key.status_code == 403


def test_finance_asks_for_a_run_and_the_scheduler_does_it(client, session) -> None:
    from engine.jobs import requested_billing_runs
    from tests.conftest import issue_key

    finance = {"Authorization": f"Bearer {issue_key('finance')}"}
    (a,) = buyers(session, 1, role="owner")
    assert save_card(client, a, "pm_card_visa").status_code == 200
    prices = buy(client, session, a, 2)
    # Set-up: bought last month (the month asked for must have ended). The ledger refuses
    # updates by trigger; triggers are off for this set-up transaction of the owner's only.
    in_last_month = datetime.now(PARIS).replace(day=1, hour=12) - timedelta(days=5)
    with unit_of_work(owner_database_url()) as owner:
        owner.execute(text("SET LOCAL session_replication_role = replica"))
        for table in ("purchase", "ledger_line"):
            owner.execute(text(f"UPDATE {table} SET created_at = :at"), {"at": in_last_month})
    session.commit()
    last_month = in_last_month.strftime("%Y-%m")

    asked = client.post("/api/v1/billing/runs", json={"period": last_month}, headers=finance)
    again = client.post("/api/v1/billing/runs", json={"period": last_month}, headers=finance)
    waiting = client.get(f"/api/v1/billing/runs/{asked.json()['id']}", headers=finance)
    invoices_before = session.execute(text("SELECT count(*) FROM invoice")).scalar_one()
    done = requested_billing_runs()
    finished = client.get(f"/api/v1/billing/runs/{asked.json()['id']}", headers=finance)
    idle = requested_billing_runs()

    assert asked.status_code == 202
    assert (asked.json()["status"], asked.json()["period"]) == ("requested", last_month)
    assert again.json()["id"] == asked.json()["id"]  # one run per month waits at a time
    assert waiting.json()["status"] == "requested"
    assert invoices_before == 0  # nothing billed inside the request
    assert [r["invoices"] for r in done["runs"]] == [1]
    assert idle == {"runs": []}
    body = finished.json()
    assert (body["status"], body["invoices"], body["charged"]) == ("finished", 1, 1)
    assert [d["total_ht_cents"] for d in body["documents"]] == [sum(prices)]
    actions = session.execute(
        text("SELECT action FROM audit_log WHERE action = 'billing_run.requested'")
    ).scalars()
    assert list(actions) == ["billing_run.requested"]
    unknown = client.get(f"/api/v1/billing/runs/{uuid.uuid4()}", headers=finance)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "billing_run_not_found")
    assert (
        client.get(f"/api/v1/billing/runs/{asked.json()['id']}", headers=a.headers).status_code
        == 403
    )


def signed(event: dict[str, Any], at: float | None = None) -> tuple[bytes, str]:
    body = json.dumps(event).encode()
    stamp = int(at if at is not None else time.time())
    secret = os.environ["STRIPE_WEBHOOK_SECRET"].encode()
    mac = hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={stamp},v1={mac}"


def intent_event(
    kind: str, invoice_id: object, created: int, amount: int, currency: str = "eur"
) -> dict[str, Any]:
    """A PaymentIntent event as Stripe sends it: the amount and currency it charged."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "type": f"payment_intent.{kind}",
        "created": created,
        "data": {
            "object": {
                "id": "pi_test",
                "status": kind,
                "amount": amount,
                "amount_received": amount if kind == "succeeded" else 0,
                "currency": currency,
                "metadata": {"invoice_id": str(invoice_id)},
                "last_payment_error": {"code": "card_declined"}
                if kind == "payment_failed"
                else None,
            }
        },
    }


def test_stripe_webhooks_are_verified_stored_once_and_never_undo_a_payment(client, session) -> None:
    (agency,) = buyers(session, 1, role="owner")
    buy(client, session, agency, 1)  # no card saved: the invoice waits unpaid
    period, after = this_month()
    run_billing(period.date(), after)
    invoice_id, due = invoices(session)[0]["id"], invoices(session)[0]["total_ttc_cents"]
    now = int(time.time())

    def post(body: bytes, signature: str) -> Any:
        return client.post(
            "/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )

    succeeded = intent_event("succeeded", invoice_id, now, due)
    body, signature = signed(succeeded)
    assert post(body, signature).json()["outcome"] == "paid"
    assert post(body, signature).json()["outcome"] == "duplicate"  # Stripe retried it
    late_failure = intent_event("payment_failed", invoice_id, now - 60, due)  # older, arrives later
    assert post(*signed(late_failure)).status_code == 200
    assert invoices(session)[0]["status"] == "paid"

    forged_body, _ = signed(intent_event("succeeded", invoice_id, now, due))
    for bad_signature in (
        signature,  # another body's signature
        signed(succeeded, at=time.time() - 301)[1],  # too old
        signed(succeeded, at=time.time() + 301)[1],  # from the future
        "garbage",
    ):
        refused = post(forged_body if bad_signature == signature else body, bad_signature)
        assert refused.status_code == 400
        assert refused.json()["code"] == "invalid_signature"
    assert session.execute(text("SELECT count(*) FROM stripe_event")).scalar_one() == 2


def test_F19_a_payment_of_another_amount_or_currency_leaves_the_invoice_unpaid(
    client, session
) -> None:
    (agency,) = buyers(session, 1, role="owner")
    buy(client, session, agency, 1)
    period, after = this_month()
    run_billing(period.date(), after)
    invoice_id, due = invoices(session)[0]["id"], invoices(session)[0]["total_ttc_cents"]
    now = int(time.time())

    for event in (
        intent_event("succeeded", invoice_id, now, 100),  # a one-euro charge
        intent_event("succeeded", invoice_id, now, due - 1),  # a cent short
        intent_event("succeeded", invoice_id, now, due, currency="usd"),
    ):
        body, signature = signed(event)
        answer = client.post(
            "/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        assert answer.status_code == 200
        assert answer.json()["outcome"] == "mismatch"
        assert invoices(session)[0]["status"] != "paid"
        session.rollback()

    exact = intent_event("succeeded", invoice_id, now, due)
    body, signature = signed(exact)
    paid = client.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    assert paid.json()["outcome"] == "paid"
    assert invoices(session)[0]["status"] == "paid"


def test_localstripe_delivers_signed_events_to_a_live_server(live_server, session) -> None:
    base = os.environ["STRIPE_API_BASE"]
    httpx.post(
        f"{base}/_config/webhooks/mandat",
        data={
            "url": f"{live_server}/webhooks/stripe",
            "secret": os.environ["STRIPE_WEBHOOK_SECRET"],
            "events[0]": "payment_intent.succeeded",
        },
        timeout=10,
    ).raise_for_status()
    customer = gateway.create_customer(str(uuid.uuid4()), "Agence", "a@exemple.fr")
    method = gateway.attach_payment_method(customer, "pm_card_visa")

    result = gateway.charge(customer, method, 1_200, str(uuid.uuid4()), {"invoice_id": "none"})

    assert result.status == "succeeded"
    deadline = time.monotonic() + 15
    stored = 0
    while time.monotonic() < deadline and not stored:
        stored = session.execute(
            text("SELECT count(*) FROM stripe_event WHERE type = 'payment_intent.succeeded'")
        ).scalar_one()
        session.rollback()
        time.sleep(0.3)
    assert stored == 1


def test_reconciliation_finds_nothing_then_every_drift(client, session) -> None:
    from engine.billing.reconcile import reconcile

    a, b = buyers(session, 2, role="owner")
    for agency in (a, b):
        save_card(client, agency, "pm_card_visa")
        buy(client, session, agency, 2)
    period, after = this_month()
    run_billing(period.date(), after)
    assert reconcile(session, after) == []

    # Stripe's payment and our books disagree: a charge of another amount, a document tampered.
    invoice = invoices(session)[0]
    customer = session.execute(
        text("SELECT stripe_customer_id, stripe_payment_method_id FROM agency WHERE id = :a"),
        {"a": invoice["agency_id"]},
    ).one()
    other = gateway.charge(customer[0], customer[1], 999, str(uuid.uuid4()), {})
    session.execute(
        text("UPDATE invoice SET stripe_payment_intent_id = :pi WHERE id = :id"),
        {"pi": other.payment_intent_id, "id": invoice["id"]},
    )
    session.commit()
    # An issued invoice refuses changes by trigger: the tampering (the owner's) goes around it.
    with unit_of_work(owner_database_url()) as owner:
        owner.execute(text("SET LOCAL session_replication_role = replica"))
        owner.execute(
            text(
                "UPDATE invoice SET vat_cents = vat_cents + 1, total_ttc_cents = total_ttc_cents"
                " + 1 WHERE id <> :id"
            ),
            {"id": invoice["id"]},
        )

    kinds = sorted(d.kind for d in reconcile(session, after))

    assert kinds == ["stripe_amount", "vat"]
