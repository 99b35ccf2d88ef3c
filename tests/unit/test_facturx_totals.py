"""For any lines and rates, the Factur-X totals follow EN 16931's BR-CO rules to the cent (the
Schematron tolerates ±1.00 on the VAT: we do not), and equal the JSON and the printed page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from engine.billing.documents import vat_breakdown
from engine.billing.facturx import DocumentIncomplete, cii_xml
from engine.billing.printable import printable_page
from engine.money import format_euros
from engine.settings import DEFAULTS

RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
NS = {"ram": RAM}
PARTY = {
    "name": "Agence du Port",
    "siret": "50000000100013",
    "siren": "500000001",
    "vat_number": "FR12500000001",
    "street": "1 quai Duguay-Trouin",
    "postcode": "35400",
    "city": "Saint-Malo",
    "address": "1 quai Duguay-Trouin, 35400 Saint-Malo",
}
STANDARD_RATES = (2000, 850, 1000, 550, 210)


def record(lines: list[tuple[int, int]]) -> dict[str, Any]:
    """A stored invoice's fields as `views.document` reads them (`asdict` of its record), totals
    as the billing writes them."""
    ht = sum(amount for amount, _ in lines)
    vat = sum(group.vat_cents for group in vat_breakdown(lines))
    rates = {rate for _, rate in lines}
    return {
        "type": "invoice",
        "number": "F-2026-000042",
        "issued_at": datetime(2026, 12, 1, 3, tzinfo=UTC),
        "due_at": date(2026, 12, 16),
        "period": "2026-11",
        "status": "open",
        "seller": {**DEFAULTS["seller_identity"], "vat_on_debits": False},
        "buyer": PARTY,
        "vat_rate_bp": rates.pop() if len(rates) == 1 else 2000,
        "vat_category": "O" if lines[0][1] == 0 else "S",
        "total_ht_cents": ht,
        "vat_cents": vat,
        "total_ttc_cents": ht + vat,
        "lines": [
            {"description": f"Contact vendeur {n}", "amount_ht_cents": amount, "vat_rate_bp": rate}
            for n, (amount, rate) in enumerate(lines, 1)
        ],
    }


def cents(node: Any, path: str) -> int:
    return int(Decimal(node.findtext(path, namespaces=NS)) * 100)


amounts = st.integers(min_value=-50_000, max_value=2_000_000)
standard_lines = st.lists(st.tuples(amounts, st.sampled_from(STANDARD_RATES)), min_size=1)
outside_lines = st.lists(st.tuples(amounts, st.just(0)), min_size=1)


@settings(max_examples=150, deadline=None)
@given(st.one_of(standard_lines, outside_lines))
def test_vat_per_category_and_totals_follow_br_co_to_the_cent(lines) -> None:  # type: ignore[no-untyped-def]
    assume(sum(amount for amount, _ in lines) >= 0)
    doc = record(lines)

    root = etree.fromstring(cii_xml(doc))

    settlement = root.find(".//ram:ApplicableHeaderTradeSettlement", NS)
    summation = settlement.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)
    line_nets = [
        int(Decimal(v) * 100)
        for v in root.xpath("//ram:LineTotalAmount/text()", namespaces=NS)[:-1]
    ]
    assert line_nets == [amount for amount, _ in lines]
    bt106 = cents(summation, "ram:LineTotalAmount")
    bt109 = cents(summation, "ram:TaxBasisTotalAmount")
    bt110 = cents(summation, "ram:TaxTotalAmount")
    bt112 = cents(summation, "ram:GrandTotalAmount")
    assert bt106 == sum(line_nets)  # BR-CO-10
    assert bt109 == bt106  # BR-CO-13 (no allowance or charge)
    groups = settlement.findall("ram:ApplicableTradeTax", NS)
    by_rate: dict[int, int] = {}
    for amount, rate in lines:
        by_rate[rate] = by_rate.get(rate, 0) + amount
    assert len(groups) == len(by_rate)
    for group in groups:
        rate_text = group.findtext("ram:RateApplicablePercent", namespaces=NS)
        rate_bp = int(Decimal(rate_text) * 100) if rate_text else 0
        base = cents(group, "ram:BasisAmount")
        assert base == by_rate[rate_bp]  # BR-S-08 / BR-O-08: the category's lines
        expected = (Decimal(base) * rate_bp / 10_000).quantize(Decimal(1), ROUND_HALF_UP)
        assert cents(group, "ram:CalculatedAmount") == int(expected)  # BR-CO-17, exact
        assert group.findtext("ram:CategoryCode", namespaces=NS) == ("O" if rate_bp == 0 else "S")
    assert bt110 == sum(cents(g, "ram:CalculatedAmount") for g in groups)  # BR-CO-14
    assert bt112 == bt109 + bt110  # BR-CO-15
    assert cents(summation, "ram:DuePayableAmount") == bt112  # BR-CO-16
    assert (bt109, bt110, bt112) == (
        doc["total_ht_cents"],
        doc["vat_cents"],
        doc["total_ttc_cents"],
    )
    page = printable_page(doc, printed=True)
    for amount in (bt109, bt110, bt112):
        assert format_euros(amount) in page


def test_a_record_whose_totals_do_not_add_up_gets_no_xml() -> None:
    doc = record([(12_000, 2000), (3_000, 2000)])
    doc["vat_cents"] += 1
    doc["total_ttc_cents"] += 1

    with pytest.raises(DocumentIncomplete, match="do not add up"):
        cii_xml(doc)
