"""What agencies and finance see of e-invoicing: the stored PDF over the API and by e-mail, the
agency data an invoice needs, the hand-over to the approved platform, the e-reporting export."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from facturx import get_xml_from_pdf
from sqlalchemy import text

from engine.billing.documents import PARIS
from engine.billing.einvoice import issue_pending
from engine.billing.ledger import add_refund_line
from engine.billing.run import run_billing
from engine.billing.transmit import FolderPlatform, transmit
from engine.config import owner_database_url
from engine.db import unit_of_work
from engine.notify.deliver import deliver_due
from tests.conftest import issue_key
from tests.integration.test_billing import buy, save_card, this_month
from tests.integration.test_facturx import agencies_in, billed
from tests.market import Buyer, buyers

pytestmark = pytest.mark.usefixtures("stripe_fake")


def e_invoiced(client, session, *places: str) -> list[Buyer]:  # type: ignore[no-untyped-def]
    """Agencies in `places` that bought a lead this month, billed and e-invoiced."""
    agencies = agencies_in(session, *places)
    for agency in agencies:
        buy(client, session, agency, 1)
    period, after = this_month()
    run_billing(period.date(), after)
    issue_pending()
    return agencies


def finance() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_key('finance')}"}


def test_the_pdf_is_the_stored_bytes_for_its_agency_and_finance_only(client, session) -> None:
    owner = billed(client, session, 2)
    (other,) = buyers(session, 1, role="owner")
    invoice_id = session.execute(text("SELECT id FROM invoice")).scalar_one()

    first = client.get(f"/api/v1/invoices/{invoice_id}/pdf", headers=owner.headers)
    again = client.get(f"/api/v1/invoices/{invoice_id}/pdf", headers=finance())
    foreign = client.get(f"/api/v1/invoices/{invoice_id}/pdf", headers=other.headers)

    assert first.status_code == 200
    assert first.headers["content-type"] == "application/pdf"
    assert first.content == again.content  # stored once, never made again
    stored = session.execute(text("SELECT pdf, pdf_sha256 FROM einvoice")).one()
    assert first.content == bytes(stored.pdf)
    assert hashlib.sha256(first.content).hexdigest() == stored.pdf_sha256
    assert first.headers["etag"] == f'"{stored.pdf_sha256}"'
    _, xml = get_xml_from_pdf(first.content, check_xsd=False)
    body = client.get(f"/api/v1/invoices/{invoice_id}", headers=owner.headers).json()
    assert body["number"].encode() in xml
    assert f"{body['total_ttc_cents'] // 100}.{body['total_ttc_cents'] % 100:02d}".encode() in xml
    assert foreign.status_code == 404
    missing = client.get(f"/api/v1/credit-notes/{invoice_id}/pdf", headers=owner.headers)
    assert missing.status_code == 404


def test_the_invoice_email_carries_the_stored_pdf(client, session, mailbox) -> None:
    owner = billed(client, session, 1)

    issue_pending()
    session.commit()
    deliver_due(datetime.now(UTC) + timedelta(seconds=1))

    (mail,) = [m for m in mailbox.messages if "Facture" in m["Subject"]]
    (attachment,) = list(mail.iter_attachments())
    stored = session.execute(text("SELECT number, pdf FROM einvoice")).one()
    assert attachment.get_filename() == f"{stored.number}.pdf"
    assert attachment.get_content() == bytes(stored.pdf)
    email = session.execute(
        text("SELECT email FROM agency WHERE id = :a"), {"a": owner.agency_id}
    ).scalar_one()
    assert mail["To"] == email


def test_an_agency_without_registered_address_is_listed_not_billed_until_it_gives_it(
    client, session
) -> None:
    (agency,) = agencies_in(session, "mainland")
    save_card(client, agency, "pm_card_visa")
    buy(client, session, agency, 1)
    session.execute(
        text(
            "UPDATE agency SET registered_street = NULL, registered_postcode = NULL,"
            " registered_city = NULL"
        )
    )
    session.commit()
    period, after = this_month()

    report = run_billing(period.date(), after)

    assert (report.invoices, report.incomplete) == (0, 1)
    assert "registered address" in report.notes[0]
    run = session.execute(text("SELECT id FROM billing_run")).scalar_one()
    status = client.get(f"/api/v1/billing/runs/{run}", headers=finance()).json()
    assert [a["id"] for a in status["incomplete_agencies"]] == [str(agency.agency_id)]
    assert status["incomplete_agencies"][0]["missing"] == [
        "registered_street",
        "registered_postcode",
        "registered_city",
    ]
    siren = session.execute(text("SELECT left(siret, 9) FROM agency")).scalar_one()
    bad = client.patch(
        "/api/v1/agency", json={"einvoicing_address": "123456789"}, headers=agency.headers
    )
    assert bad.status_code == 422
    changed = client.patch(
        "/api/v1/agency",
        json={
            "registered_address": {
                "street": "3 rue Le Bastard",
                "postcode": "35000",
                "city": "Rennes",
            },
            "einvoicing_address": f"{siren}_FACTURES",
        },
        headers=agency.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["registered_address"]["street"] == "3 rue Le Bastard"

    again = run_billing(period.date(), after)

    assert (again.invoices, again.incomplete) == (1, 0)
    issue_pending()
    xml = session.execute(text("SELECT xml FROM einvoice")).scalar_one()
    assert b"3 rue Le Bastard" in bytes(xml)
    assert f'schemeID="0225">{siren}_FACTURES<'.encode() in bytes(xml)


def test_transmission_drops_each_einvoice_once_and_stores_the_statuses(
    client, session, tmp_path: Path
) -> None:
    e_invoiced(client, session, "mainland", "guyane")
    platform = FolderPlatform(tmp_path)

    first = transmit(platform)
    again = transmit(platform)

    number = session.execute(
        text("SELECT number FROM einvoice WHERE vat_category = 'S'")
    ).scalar_one()
    assert (first["transmitted"], again["transmitted"]) == (1, 0)  # Guyane is e-reported
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{number}.json", f"{number}.pdf"]
    manifest = json.loads((tmp_path / f"{number}.json").read_text())
    pdf = (tmp_path / f"{number}.pdf").read_bytes()
    assert manifest["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert manifest["type_code"] == "380"
    status = {"number": number, "status": "deposited", "at": "2026-12-02T10:00:00+00:00"}
    (tmp_path / f"{number}.status.json").write_text(json.dumps(status))

    reported = transmit(platform)
    repeated = transmit(platform)

    assert (reported["statuses"], repeated["statuses"]) == (1, 0)
    assert session.execute(text("SELECT status FROM einvoice_status")).scalars().all() == [
        "deposited"
    ]


def test_finance_downloads_the_sales_to_e_report(client, session) -> None:
    _, guyane = e_invoiced(client, session, "mainland", "guyane")
    month = this_month()[1].strftime("%Y-%m")

    listed = client.get(f"/api/v1/billing/e-reporting?period={month}", headers=finance())
    as_csv = client.get(f"/api/v1/billing/e-reporting?period={month}&format=csv", headers=finance())
    refused = client.get(f"/api/v1/billing/e-reporting?period={month}", headers=guyane.headers)

    guyane_invoice = session.execute(
        text("SELECT number, total_ttc_cents FROM invoice WHERE agency_id = :a"),
        {"a": guyane.agency_id},
    ).one()
    items = listed.json()["items"]
    assert [(i["number"], i["total_ttc_cents"]) for i in items] == [tuple(guyane_invoice)]
    assert items[0]["departement"] == "973"
    assert as_csv.text.splitlines()[1].startswith(guyane_invoice.number)
    assert refused.status_code == 403


def test_payments_are_reported_as_paid_statuses_and_listed_for_finance(
    client, session, tmp_path: Path
) -> None:
    mainland, guyane = agencies_in(session, "mainland", "guyane")
    for agency in (mainland, guyane):
        save_card(client, agency, "pm_card_visa")
    prices = buy(client, session, mainland, 2)
    buy(client, session, guyane, 1)
    period, after = this_month()
    run_billing(period.date(), after)
    purchase = session.execute(
        text("SELECT id FROM purchase WHERE agency_id = :a ORDER BY created_at LIMIT 1"),
        {"a": mainland.agency_id},
    ).scalar_one()
    add_refund_line(session, purchase, prices[0])  # after payment: a credit note paid back
    session.commit()
    run_billing(after.date(), (after + timedelta(days=32)).replace(day=1))
    issue_pending()
    platform = FolderPlatform(tmp_path)

    first = transmit(platform)
    again = transmit(platform)

    invoice = (
        session.execute(
            text("SELECT * FROM invoice WHERE agency_id = :a"), {"a": mainland.agency_id}
        )
        .mappings()
        .one()
    )
    note = session.execute(text("SELECT * FROM credit_note")).mappings().one()
    assert (first["paid_reported"], again["paid_reported"]) == (2, 0)  # Guyane: no VAT
    paid = json.loads((tmp_path / f"{invoice['number']}.paid.json").read_text())
    assert (paid["status"], paid["type_code"]) == ("paid", "380")
    assert paid["amounts"] == [
        {
            "vat_rate": "20.00",
            "base_cents": invoice["total_ht_cents"],
            "vat_cents": invoice["vat_cents"],
            "amount_cents": invoice["total_ttc_cents"],
        }
    ]
    paid_back = json.loads((tmp_path / f"{note['number']}.paid.json").read_text())
    assert paid_back["amounts"][0]["amount_cents"] == -note["total_ttc_cents"]
    assert paid_back["amounts"][0]["vat_cents"] == -note["vat_cents"]

    month = datetime.now(PARIS).strftime("%Y-%m")  # the payments' own month, not the billed one
    listed = client.get(f"/api/v1/billing/e-reporting/payments?period={month}", headers=finance())
    as_csv = client.get(
        f"/api/v1/billing/e-reporting/payments?period={month}&format=csv", headers=finance()
    )
    refused = client.get(
        f"/api/v1/billing/e-reporting/payments?period={month}", headers=mainland.headers
    )

    body = listed.json()
    assert (body["vat_on_debits"], body["note"]) == (False, None)
    assert [
        (i["number"], i["type_code"], i["base_cents"], i["vat_cents"], i["amount_cents"])
        for i in body["items"]
    ] == [
        (invoice["number"], "380", invoice["total_ht_cents"], invoice["vat_cents"],
         invoice["total_ttc_cents"]),
        (note["number"], "381", -note["total_ht_cents"], -note["vat_cents"],
         -note["total_ttc_cents"]),
    ]  # fmt: skip
    assert all(i["einvoiced"] and i["vat_rate_bp"] == 2000 for i in body["items"])
    assert as_csv.text.splitlines()[2].split(",")[1:3] == [note["number"], "381"]
    assert refused.status_code == 403
    session.execute(text("UPDATE setting SET value = 'true' WHERE key = 'vat_on_debits'"))
    session.commit()
    on_debits = client.get(
        f"/api/v1/billing/e-reporting/payments?period={month}", headers=finance()
    )
    assert on_debits.json()["note"].startswith("VAT on debits is on")


# What a document issued before e-invoicing (migration 0012) holds: no SIREN nor structured
# address for either party (the seller's identity and the buyer's as they were then).
OLD_SELLER = {
    "name": "Mandat SAS",
    "siret": "90000000110008",
    "vat_number": "FR68900000001",
    "address": "10 rue de l'Exemple, 75002 Paris",
    "legal": "SAS au capital de 10 000 € — RCS Paris 900 000 001 (identité de démonstration)",
}


def test_a_document_issued_before_e_invoicing_stays_a_page_and_is_listed_for_finance(
    client, session
) -> None:
    old, new = agencies_in(session, "mainland", "mainland")
    for agency in (old, new):
        buy(client, session, agency, 1)
    period, after = this_month()
    run_billing(period.date(), after)
    invoice = session.execute(
        text("SELECT id, number, buyer FROM invoice WHERE agency_id = :a"), {"a": old.agency_id}
    ).one()
    buyer = {k: invoice.buyer[k] for k in ("name", "siret", "siren", "vat_number", "email")}
    buyer["address"] = "35238 Rennes"
    session.commit()
    # As an old database has it: only the schema's owner may lift the trigger.
    with unit_of_work(owner_database_url()) as owner:
        owner.execute(text("ALTER TABLE invoice DISABLE TRIGGER invoice_issued"))
        owner.execute(
            text("UPDATE invoice SET seller = CAST(:s AS jsonb), buyer = CAST(:b AS jsonb)"
                 " WHERE id = :id"),
            {"s": json.dumps(OLD_SELLER), "b": json.dumps(buyer), "id": invoice.id},
        )  # fmt: skip
        owner.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the lines' check, before ALTER
        owner.execute(text("ALTER TABLE invoice ENABLE TRIGGER invoice_issued"))

    first = issue_pending()
    again = issue_pending()

    assert (first.issued, first.incomplete, first.failed) == (1, 1, 0)  # the other one issued
    assert (again.issued, again.incomplete) == (0, 0)  # recorded once, not tried every minute
    pdf = client.get(f"/api/v1/invoices/{invoice.id}/pdf", headers=old.headers)
    assert pdf.status_code == 409
    assert pdf.headers["content-type"] == "application/problem+json"
    assert pdf.json()["code"] == "not_einvoiced"
    assert pdf.json()["reason"] == "document_incomplete"
    page = client.get(f"/api/v1/invoices/{invoice.id}/html", headers=old.headers)
    assert page.status_code == 200
    assert invoice.number in page.text
    listed = client.get("/api/v1/billing/einvoice-exclusions", headers=finance())
    (item,) = listed.json()["items"]
    assert (item["id"], item["number"], item["type"]) == (
        str(invoice.id),
        invoice.number,
        "invoice",
    )
    assert item["code"] == "document_incomplete"
    assert "no siren, street, postcode, city" in item["reason"]
    assert client.get("/api/v1/billing/einvoice-exclusions", headers=old.headers).status_code == 403
