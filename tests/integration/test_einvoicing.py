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

from engine.billing.einvoice import issue_pending
from engine.billing.run import run_billing
from engine.billing.transmit import FolderPlatform, transmit
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
