"""Every invoice and credit note as a Factur-X: the XML passes the XSD and the official EN 16931
and French (BR-FR) Schematron rules, the PDF/A-3b carries it, and both match the database."""

from __future__ import annotations

import io
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pikepdf
import pytest
from facturx import get_xml_from_pdf, xml_check_xsd
from lxml import etree
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.billing.einvoice import issue, issue_pending
from engine.billing.ledger import add_refund_line
from engine.billing.run import run_billing
from engine.db import unit_of_work
from tests.integration.test_billing import buy, save_card, this_month
from tests.market import Buyer, buyers
from tests.schematron import schematron_failures

pytestmark = pytest.mark.usefixtures("stripe_fake")
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
OFFICES = {"mainland": "35238", "reunion": "97411", "guyane": "97302"}


def agencies_in(session, *places: str) -> list[Buyer]:  # type: ignore[no-untyped-def]
    made = buyers(session, len(places), role="owner")
    for agency, place in zip(made, places, strict=True):
        session.execute(
            text("UPDATE agency SET office_commune_code = :c WHERE id = :a"),
            {"c": OFFICES[place], "a": agency.agency_id},
        )
    session.commit()
    return made


def stored(session) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    rows = session.execute(
        text("""
            SELECT e.number, e.xml, e.pdf, e.pdf_sha256, e.vat_category,
                   coalesce(i.total_ht_cents, c.total_ht_cents) AS ht,
                   coalesce(i.vat_cents, c.vat_cents) AS vat,
                   coalesce(i.total_ttc_cents, c.total_ttc_cents) AS ttc,
                   coalesce(i.vat_rate_bp, c.vat_rate_bp) AS rate, ci.number AS credited
            FROM einvoice e LEFT JOIN invoice i ON i.id = e.invoice_id
            LEFT JOIN credit_note c ON c.id = e.credit_note_id
            LEFT JOIN invoice ci ON ci.id = c.invoice_id
        """)
    ).mappings()
    return {r["number"]: r for r in rows}


def billed(client, session, leads: int) -> Buyer:  # type: ignore[no-untyped-def]
    """A mainland agency that bought `leads` leads this month, billed (not yet e-invoiced)."""
    (agency,) = agencies_in(session, "mainland")
    buy(client, session, agency, leads)
    period, after = this_month()
    run_billing(period.date(), after)
    return agency


def value(xml: bytes, path: str) -> list[str]:
    return [str(v) for v in etree.fromstring(xml).xpath(path, namespaces=NS)]


def cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


def total(xml: bytes, name: str) -> int:
    path = f"//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:{name}/text()"
    return cents(value(xml, path)[0])


def test_mainland_reunion_and_guyane_invoices_and_a_credit_note_pass_every_check(
    client, session
) -> None:
    mainland, reunion, guyane = agencies_in(session, "mainland", "reunion", "guyane")
    for agency in (mainland, reunion, guyane):
        save_card(client, agency, "pm_card_visa")
    prices = buy(client, session, mainland, 3)
    buy(client, session, reunion, 2)
    buy(client, session, guyane, 2)
    first = session.execute(
        text("SELECT id FROM purchase WHERE agency_id = :a ORDER BY created_at"),
        {"a": mainland.agency_id},
    ).scalars()
    purchases = list(first)
    add_refund_line(session, purchases[0], 1_000)  # before billing: a negative line
    session.commit()
    period, after = this_month()
    run_billing(period.date(), after)
    add_refund_line(session, purchases[1], prices[1])  # after payment: a credit note
    session.commit()
    following = (after + timedelta(days=32)).replace(day=1, hour=1)
    run_billing(after.date().replace(day=1), following)

    report = issue_pending()

    documents = stored(session)
    assert report.issued == 4 == len(documents)
    failures = schematron_failures({n: d["xml"] for n, d in documents.items()})
    assert failures == {n: [] for n in documents}
    by_rate = {}
    for number, doc in documents.items():
        xml = doc["xml"]
        assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
        filename, embedded = get_xml_from_pdf(bytes(doc["pdf"]), check_xsd=True)
        assert (filename, embedded) == ("factur-x.xml", bytes(xml))  # the stored XML
        assert total(xml, "TaxBasisTotalAmount") == doc["ht"]
        assert total(xml, "TaxTotalAmount") == doc["vat"]
        assert total(xml, "GrandTotalAmount") == doc["ttc"]
        assert total(xml, "DuePayableAmount") == doc["ttc"]
        assert set(value(xml, "//ram:IncludedNote/ram:SubjectCode/text()")) >= {
            "PMT",
            "PMD",
            "AAB",
        }
        assert value(xml, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID/text()")
        assert value(xml, "//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/text()")
        by_rate.setdefault(doc["rate"], []).append(number)
    invoice_main = next(d for d in documents.values() if d["rate"] == 2000 and not d["credited"])
    note = next(d for d in documents.values() if d["credited"])
    assert value(invoice_main["xml"], "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["380"]
    assert -1000 in [cents(v) for v in value(invoice_main["xml"], "//ram:LineTotalAmount/text()")]
    assert value(note["xml"], "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["381"]
    assert value(note["xml"], "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID/text()") == [
        note["credited"]
    ]
    assert note["ht"] == prices[1]
    assert total(note["xml"], "TaxBasisTotalAmount") == prices[1]  # positive on a 381
    reunion_xml = documents[by_rate[850][0]]["xml"]
    assert value(reunion_xml, "//ram:ApplicableTradeTax/ram:RateApplicablePercent/text()")[-1] == (
        "8.50"
    )
    guyane_doc = documents[by_rate[0][0]]
    assert guyane_doc["vat_category"] == "O"
    assert value(guyane_doc["xml"], "//ram:CategoryCode/text()") == ["O"] * 3  # 2 lines + 1 group
    assert value(guyane_doc["xml"], "//ram:ExemptionReasonCode/text()") == ["VATEX-EU-O"]
    assert value(guyane_doc["xml"], "//ram:SpecifiedTaxRegistration") == []


def test_the_pdf_is_pdf_a_3b_with_its_xml_and_consistent_metadata(client, session) -> None:
    billed(client, session, 1)
    issue_pending()
    doc = next(iter(stored(session).values()))

    with pikepdf.open(io.BytesIO(bytes(doc["pdf"]))) as pdf:
        meta = pdf.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("3", "B")
        assert "EN 16931" in str(meta)
        assert [str(f.F) for f in pdf.Root.AF] == ["factur-x.xml"]
        assert str(pdf.Root.AF[0].AFRelationship) == "/Data"
        assert pdf.Root.OutputIntents[0].S == "/GTS_PDFA1"
        assert "/ID" in pdf.trailer
        fonts = [
            f
            for page in pdf.pages
            for f in page.Resources.Font.values()
            if "/FontDescriptor" in f.get("/DescendantFonts", [f])[0]
        ]
        assert fonts
        assert all("/FontFile2" in f.DescendantFonts[0].FontDescriptor for f in fonts)
        assert str(pdf.docinfo["/Producer"]) == meta["pdf:Producer"]
        assert "/Keywords" not in pdf.docinfo
        assert str(pdf.docinfo["/Title"]) == f"Facture {doc['number']}"


def test_an_issued_invoice_refuses_changes_to_its_totals_and_lines(client, session) -> None:
    agency = billed(client, session, 2)
    invoice = session.execute(text("SELECT id, total_ht_cents FROM invoice")).one()

    with pytest.raises(DBAPIError, match="is issued"):
        session.execute(
            text("UPDATE invoice SET total_ht_cents = total_ht_cents + 1 WHERE id = :i"),
            {"i": invoice.id},
        )
    session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("DELETE FROM document_line"))
    session.rollback()
    buy(client, session, agency, 1)  # a purchase not billed yet
    session.execute(  # slipped onto the issued invoice: refused at commit
        text("""
            INSERT INTO document_line (invoice_id, ledger_line_id, purchase_id,
                                       description, amount_ht_cents)
            SELECT :i, l.id, l.purchase_id, 'extra', l.amount_cents FROM ledger_line l
            WHERE NOT EXISTS (SELECT 1 FROM document_line d WHERE d.ledger_line_id = l.id)
        """),
        {"i": invoice.id},
    )
    with pytest.raises(DBAPIError, match="add up to"):
        session.commit()
    session.rollback()
    session.execute(text("UPDATE invoice SET status = 'paid' WHERE id = :i"), {"i": invoice.id})
    session.commit()  # its payment status still moves
    total = session.execute(text("SELECT total_ht_cents FROM invoice")).scalar_one()
    assert total == invoice.total_ht_cents


def test_lines_are_written_with_their_document_and_add_up_to_its_total(client, session) -> None:
    agency = billed(client, session, 1)
    invoice = session.execute(text("SELECT * FROM invoice")).mappings().one()
    buy(client, session, agency, 1)  # a purchase not billed yet
    late_line = text("""
        INSERT INTO document_line (invoice_id, ledger_line_id, purchase_id,
                                   description, amount_ht_cents)
        SELECT :i, l.id, l.purchase_id, 'extra', 0 FROM ledger_line l
        WHERE NOT EXISTS (SELECT 1 FROM document_line d WHERE d.ledger_line_id = l.id)
    """)
    # A line of nothing, in a later transaction: the total still holds, the line is refused.
    session.execute(late_line, {"i": invoice["id"]})
    with pytest.raises(DBAPIError, match="is issued"):
        session.commit()
    session.rollback()
    # Even from the transaction that records the invoice's payment.
    session.execute(text("UPDATE invoice SET status = 'paid' WHERE id = :i"), {"i": invoice["id"]})
    session.execute(late_line, {"i": invoice["id"]})
    with pytest.raises(DBAPIError, match="is issued"):
        session.commit()
    session.rollback()
    # A new document whose lines do not add up to its total: refused at commit.
    session.execute(
        text("""
            INSERT INTO invoice (id, agency_id, period, number, issued_at, due_at, seller, buyer,
                                 vat_rate_bp, total_ht_cents, vat_cents, total_ttc_cents)
            SELECT gen_random_uuid(), agency_id, period + interval '1 month', number || '-2',
                   issued_at, due_at, seller, buyer, vat_rate_bp, 1000, 0, 1000
            FROM invoice WHERE id = :i
        """),
        {"i": invoice["id"]},
    )
    session.execute(
        text("""
            INSERT INTO document_line (invoice_id, ledger_line_id, purchase_id,
                                       description, amount_ht_cents)
            SELECT (SELECT id FROM invoice WHERE number = :n || '-2'), l.id, l.purchase_id,
                   'short', 900 FROM ledger_line l
            WHERE NOT EXISTS (SELECT 1 FROM document_line d WHERE d.ledger_line_id = l.id)
        """),
        {"n": invoice["number"]},
    )
    with pytest.raises(DBAPIError, match="add up to 900 cents, its total is 1000"):
        session.commit()
    session.rollback()
    assert session.execute(text("SELECT count(*) FROM document_line")).scalar_one() == 1


def test_a_row_committed_by_a_transaction_that_began_later_is_not_taken_for_its_own(
    session,
) -> None:
    # What the documents' checks ask of every row they read (`written_by_this_transaction`):
    # two billing batches at once read each other's committed invoices.
    read = text("SELECT written_by_this_transaction(xmin) FROM setting WHERE key = :k")
    keys = session.execute(text("SELECT key FROM setting ORDER BY key LIMIT 2")).scalars().all()
    session.rollback()
    with unit_of_work(alone=True) as earlier:
        earlier.execute(text("SELECT pg_current_xact_id()"))  # its id, before the other's
        with unit_of_work(alone=True) as later:
            later.execute(text("UPDATE setting SET value = value WHERE key = :k"), {"k": keys[0]})
        earlier.execute(text("UPDATE setting SET value = value WHERE key = :k"), {"k": keys[1]})
        theirs = earlier.execute(read, {"k": keys[0]}).scalar_one()
        mine = earlier.execute(read, {"k": keys[1]}).scalar_one()
        with earlier.begin_nested():  # a subtransaction's id is above its transaction's
            earlier.execute(text("UPDATE setting SET value = value WHERE key = :k"), {"k": keys[0]})
            nested = earlier.execute(read, {"k": keys[0]}).scalar_one()
        earlier.rollback()
    assert (theirs, mine, nested) == (False, True, True)


def test_two_workers_issuing_one_invoice_at_once_store_one_pdf(client, session) -> None:
    billed(client, session, 1)
    invoice_id = session.execute(text("SELECT id FROM invoice")).scalar_one()
    outcomes: list[bool] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        with unit_of_work() as own:
            barrier.wait()
            outcomes.append(issue(own, "invoice", invoice_id))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [False, True]
    assert session.execute(text("SELECT count(*) FROM einvoice")).scalar_one() == 1
    assert session.execute(text("SELECT count(*) FROM outbox WHERE event = 'einvoice.issued'"))
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("UPDATE einvoice SET pdf = pdf || '\\x00'::bytea"))
    session.rollback()
