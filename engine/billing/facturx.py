"""A document's Factur-X CII XML (EN 16931 profile), built from its stored record (the same fields
the JSON and the printable page show), never from the ledger.

Every mention French law asks of an invoice is in it (CGI ann. II art. 242 nonies A, C. com.
L441-9 and L441-10, décret 2022-1299): numbers, dates, both parties' names, addresses, SIREN,
SIRET and VAT numbers, the operation's category (services: business process S1), the VAT on
debits option when chosen, the due date, the late-payment penalties, the €40 recovery indemnity,
the absence of discount, and the directory addresses of the reform (scheme 0225).
Totals are the record's; the XML is refused if its lines and VAT groups do not add up to them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from facturx import generate_cii_xml

from engine.billing.documents import PARIS, VatGroup, vat_breakdown, vat_category
from engine.errors import MandatError
from engine.money import decimal_euros

TYPE_CODE = {"invoice": "380", "credit_note": "381"}
SERVICES = "S1"  # BT-23: an invoice for services (mention 8° bis: category of operation)
# The notes French rules require (BR-FR-05): subject code → text. The page shows the same.
NOTES = {
    "PMD": "En cas de retard de paiement : pénalités au taux de trois fois le taux d'intérêt "
    "légal (C. com. art. L441-10).",
    "PMT": "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : "
    "40 € (C. com. art. L441-10 et D441-5).",
    "AAB": "Pas d'escompte pour paiement anticipé.",
}
CATEGORY_OF_OPERATION = "Prestations de services"
VAT_ON_DEBITS = "Option pour le paiement de la taxe d'après les débits"
OUTSIDE_VAT = "TVA non applicable – art. 294, 1 du CGI"
OUTSIDE_VAT_CODE = "VATEX-EU-O"


class DocumentIncomplete(MandatError):
    """A stored document that cannot be an e-invoice as it stands (written before the data the
    mentions need was kept): reported, never papered over."""

    code = "document_incomplete"


def percent(rate_bp: int) -> str:
    whole, part = divmod(rate_bp, 100)
    return f"{whole}.{part:02d}"


def line_rates(doc: Mapping[str, Any]) -> list[tuple[int, int]]:
    """(amount HT, VAT rate) of each line: a line may carry its own rate, else the document's."""
    return [
        (int(line["amount_ht_cents"]), int(line.get("vat_rate_bp", doc["vat_rate_bp"])))
        for line in doc["lines"]
    ]


def checked_breakdown(doc: Mapping[str, Any]) -> list[VatGroup]:
    """The VAT groups of a record, which must add up to its stored totals to the cent."""
    groups = vat_breakdown(line_rates(doc))
    lines_ht = sum(amount for amount, _ in line_rates(doc))
    if lines_ht != doc["total_ht_cents"] or sum(g.vat_cents for g in groups) != doc["vat_cents"]:
        raise DocumentIncomplete(
            f"{doc['number']}: its lines and VAT do not add up to its totals.",
            code="document_totals_mismatch",
        )
    if doc["total_ttc_cents"] != doc["total_ht_cents"] + doc["vat_cents"]:
        raise DocumentIncomplete(f"{doc['number']}: TTC is not HT + VAT.", code="document_totals")
    return groups


def _party(identity: dict[str, Any], outside_vat: bool) -> dict[str, Any]:
    needed = ("siren", "siret", "street", "postcode", "city")
    missing = [k for k in needed + (() if outside_vat else ("vat_number",)) if not identity.get(k)]
    if missing:
        raise DocumentIncomplete(
            f"{identity.get('name')}: no {', '.join(missing)} on the stored document."
        )
    party = {
        "name": identity["name"],
        "identifiers": {"0009": identity["siret"]},  # BT-29/BT-46: SIRET
        "legal_identifier": identity["siren"],  # BT-30/BT-47: SIREN
        "legal_identifier_schemeid": "0002",
        "einvoicing_addr": identity.get("einvoicing_address") or identity["siren"],
        "einvoicing_addr_schemeid": "0225",  # the directory (annuaire) address
        "addr_l1": identity["street"],
        "postcode": identity["postcode"],
        "city": identity["city"],
        "country_code": identity.get("country_code") or "FR",
    }
    if not outside_vat:  # BR-O-02: no VAT number on a document outside the scope of VAT
        party["vat_identifier"] = identity["vat_number"]
    if identity.get("legal"):
        party["legal_info"] = identity["legal"]  # BT-33: legal form, capital, RCS
    return party


def cii_data(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The factur-x library's EN 16931 dict (a wire format) of a stored document's fields
    (`asdict` of `views.document`)."""
    kind = doc["type"]
    groups = checked_breakdown(doc)
    outside_vat = all(g.category == "O" for g in groups)
    issued: date = doc["issued_at"].astimezone(PARIS).date()
    notes = [{"BT-21": code, "BT-22": text} for code, text in NOTES.items()]
    notes.append({"BT-21": "BAR", "BT-22": "B2B"})  # makes BR-FR-11 check the buyer's SIREN
    debits = bool(doc["seller"].get("vat_on_debits")) and not outside_vat
    if debits:
        notes.append({"BT-22": VAT_ON_DEBITS})
    data: dict[str, Any] = {
        "BT-1": doc["number"],
        "BT-2": issued,
        "BT-3": TYPE_CODE[kind],
        "BT-5": "EUR",
        "BT-23": SERVICES,
        "BG-1": notes,
        "BG-4": _party(doc["seller"], outside_vat),
        "BG-7": _party(doc["buyer"], outside_vat),
        # Delivery (mandatory in CII): the buyer's country (BT-80), as the FNFE recommends.
        "BG-13": {
            "name": doc["buyer"]["name"],
            "country_code": doc["buyer"].get("country_code") or "FR",
        },
        "BG-25": [
            _line(n, line["description"], amount, rate)
            for n, (line, (amount, rate)) in enumerate(
                zip(doc["lines"], line_rates(doc), strict=True), 1
            )
        ],
        "BG-23": [_group(g) for g in groups],
        "BT-106": decimal_euros(doc["total_ht_cents"]),
        "BT-109": decimal_euros(doc["total_ht_cents"]),
        "BT-110": decimal_euros(doc["vat_cents"]),
        "BT-112": decimal_euros(doc["total_ttc_cents"]),
        "BT-115": decimal_euros(doc["total_ttc_cents"]),
    }
    if debits:
        data["BT-8"] = "invoice"  # DueDateTypeCode 5: VAT due on the invoice (debits)
    if kind == "invoice":
        start = date.fromisoformat(f"{doc['period']}-01")
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        data.update({"BT-73": start, "BT-74": end, "BT-9": doc["due_at"]})
        data["BT-20"] = (
            f"À régler au plus tard le {doc['due_at']:%d/%m/%Y}, par prélèvement sur le moyen "
            "de paiement enregistré."
        )
    else:
        credited = doc["invoice_issued_at"].astimezone(PARIS).date()
        data["BG-3"] = [{"BT-25": doc["invoice_number"], "BT-26": credited}]
        data["BT-20"] = (
            f"Avoir sur la facture {doc['invoice_number']}, remboursé sur le moyen de paiement "
            "qui l'a réglée, ou déduit de son montant si elle n'est pas encore réglée."
        )
    return data


def _line(number: int, description: str, amount: int, rate: int) -> dict[str, Any]:
    """One line: quantity 1, or -1 for a refund on an invoice (a price is never negative)."""
    line = {
        "BT-126": str(number),
        "BT-129": "1" if amount >= 0 else "-1",
        "BT-130": "C62",
        "BT-131": decimal_euros(amount),
        "BT-146": decimal_euros(abs(amount)),
        "BT-151": vat_category(rate),
        "BT-153": description,
    }
    if rate:
        line["BT-152"] = percent(rate)
    return line


def _group(group: VatGroup) -> dict[str, Any]:
    entry = {
        "BT-116": decimal_euros(group.base_cents),
        "BT-117": decimal_euros(group.vat_cents),
        "BT-118": group.category,
    }
    if group.category == "O":
        entry.update({"BT-120": OUTSIDE_VAT, "BT-121": OUTSIDE_VAT_CODE})
    else:
        entry["BT-119"] = percent(group.rate_bp)
    return entry


def cii_xml(doc: Mapping[str, Any]) -> bytes:
    """The CII XML, checked against the Factur-X EN 16931 XSD by the library (the Schematron
    rules are run by the tests, offline; the library's own check would call a server)."""
    # The library changes the dict it is given: it gets its own copy.
    xml: bytes = generate_cii_xml(
        copy.deepcopy(cii_data(doc)), level="en16931", check_xsd=True, check_schematron=False
    )
    return xml
