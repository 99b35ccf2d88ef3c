"""A document's printable page (French: the legal documents are French), read online and
printed into its Factur-X PDF.

It reads the document's fields as a mapping (`dataclasses.asdict` of a `DocumentRecord`), as
the Factur-X XML does (`facturx.cii_xml`): both render the same stored record.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from engine.billing import facturx
from engine.billing.documents import PARIS
from engine.money import format_euros

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_STATUS_TEXT = {
    "paid": "Payée.",
    "open": "À régler par prélèvement sur le moyen de paiement enregistré.",
    "payment_failed": "Le paiement a échoué : mettez à jour votre moyen de paiement.",
}


def printable_page(doc: Mapping[str, Any], printed: bool = False) -> str:
    """The printable page of a document. `printed`: the page of the PDF, stored once, which
    leaves out the payment status (it changes)."""
    kind = doc["type"]
    view = {
        **doc,
        "issued_on": doc["issued_at"].astimezone(PARIS).strftime("%d/%m/%Y"),
        "due_on": doc["due_at"].strftime("%d/%m/%Y") if doc.get("due_at") else None,
        "invoice_issued_on": doc["invoice_issued_at"].astimezone(PARIS).strftime("%d/%m/%Y")
        if doc.get("invoice_issued_at")
        else None,
        "lines": [
            {**line, "amount": format_euros(line["amount_ht_cents"])} for line in doc["lines"]
        ],
        "total_ht": format_euros(doc["total_ht_cents"]),
        "vat": format_euros(doc["vat_cents"]),
        "total_ttc": format_euros(doc["total_ttc_cents"]),
        "vat_rate": f"{doc['vat_rate_bp'] / 100:g} %".replace(".", ","),
        "status_text": "" if printed else _STATUS_TEXT.get(doc.get("status", ""), ""),
    }
    mentions = {
        "notes": list(facturx.NOTES.values()),
        "category": facturx.CATEGORY_OF_OPERATION,
        "vat_on_debits": facturx.VAT_ON_DEBITS
        if doc["seller"].get("vat_on_debits") and doc["vat_category"] != "O"
        else None,
        "outside_vat": facturx.OUTSIDE_VAT if doc["vat_category"] == "O" else None,
    }
    title = "Facture" if kind == "invoice" else "Avoir"
    return _TEMPLATES.get_template("document.html").render(
        title=title, doc=view, mentions=mentions, printed=printed
    )
