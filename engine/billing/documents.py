"""Writing invoices and credit notes: numbers, identities, lines, VAT (docs/rules.md §7).

A document is written whole in one transaction, with its number taken from its series under the
series row's lock: a document rolled back gives its number back, so the series has no gap. Once
written, documents are never changed, except their payment status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.billing.models import CreditNote, DocumentLine, Invoice
from engine.errors import RuleViolation
from engine.settings import read_settings

PARIS = ZoneInfo("Europe/Paris")
PREFIX = {"invoice": "F", "credit_note": "A"}


def period_bounds(period: date) -> tuple[datetime, datetime]:
    """The month as [start, end) instants, Paris time."""
    start = datetime(period.year, period.month, 1, tzinfo=PARIS)
    following = date(period.year + period.month // 12, period.month % 12 + 1, 1)
    return start, datetime(following.year, following.month, 1, tzinfo=PARIS)


def next_number(session: Session, doc_type: str, year: int) -> str:
    return next_numbers(session, doc_type, year, 1)[0]


def next_numbers(session: Session, doc_type: str, year: int, count: int) -> list[str]:
    """`count` consecutive numbers of the series, in order, taken under the series row's lock
    (held until the transaction ends: rolled back, the numbers go back and leave no gap)."""
    last = session.execute(
        text("""
            INSERT INTO number_series (doc_type, year, last_number) VALUES (:t, :y, :n)
            ON CONFLICT (doc_type, year)
            DO UPDATE SET last_number = number_series.last_number + :n
            RETURNING last_number
        """),
        {"t": doc_type, "y": year, "n": count},
    ).scalar_one()
    return [f"{PREFIX[doc_type]}-{year}-{n:06d}" for n in range(last - count + 1, last + 1)]


def vat_number(siren: str) -> str:
    """The French intra-community VAT number of a SIREN: FR + key + SIREN."""
    key = (12 + 3 * (int(siren) % 97)) % 97
    return f"FR{key:02d}{siren}"


def vat_of(ht_cents: int, rate_bp: int) -> int:
    return int((Decimal(ht_cents) * rate_bp / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def vat_category(rate_bp: int) -> str:
    """EN 16931 VAT category: S (standard, 20 % or 8.5 %), or O (outside the scope of VAT) for
    the 0 % of Guyane and Mayotte, where VAT does not apply (CGI art. 294; docs/decisions.md)."""
    return "O" if rate_bp == 0 else "S"


@dataclass(frozen=True)
class VatGroup:
    category: str
    rate_bp: int
    base_cents: int
    vat_cents: int


def vat_breakdown(lines: list[tuple[int, int]]) -> list[VatGroup]:
    """VAT per (category, rate) on the sum of its lines' HT, rounded half up once per group
    (EN 16931 BR-S-08, BR-CO-17), never summed line by line. `lines`: (amount HT, rate)."""
    bases: dict[int, int] = {}
    for amount, rate in lines:
        bases[rate] = bases.get(rate, 0) + amount
    return [
        VatGroup(vat_category(rate), rate, base, vat_of(base, rate))
        for rate, base in sorted(bases.items(), reverse=True)
    ]


BUYER_ROWS = """
    SELECT a.id, a.name, a.siret, a.email, c.departement_code, a.registered_street,
           a.registered_postcode, a.registered_city, a.einvoicing_address
    FROM agency a LEFT JOIN commune c ON c.code = a.office_commune_code
    WHERE {agencies}
"""
_BUYER = text(BUYER_ROWS.format(agencies="a.id = :agency"))
# What an invoice must name of its buyer (CGI ann. II art. 242 nonies A, 1°) and Mandat does not
# derive: without it the agency is not billed, and finance sees it listed.
MANDATORY_AGENCY_DATA = ("registered_street", "registered_postcode", "registered_city")
INCOMPLETE_AGENCY = " OR ".join(f"a.{column} IS NULL" for column in MANDATORY_AGENCY_DATA)


def buyer_identity(session: Session, agency_id: uuid.UUID) -> tuple[dict[str, Any], str | None]:
    return identity_of(session.execute(_BUYER, {"agency": agency_id}).mappings().one())


def identity_of(row: Any) -> tuple[dict[str, Any], str | None]:
    """The buyer's identity as a document names it, from its agency row (`_BUYER`)."""
    missing = [column for column in MANDATORY_AGENCY_DATA if row[column] is None]
    if missing:
        raise RuleViolation.at(
            missing[0], "agency_data_missing", "The agency's registered address is missing."
        )
    siren = row["siret"][:9]
    street, postcode, city = (
        row["registered_street"],
        row["registered_postcode"],
        row["registered_city"],
    )
    identity = {
        "name": row["name"],
        "siret": row["siret"],
        "siren": siren,
        "vat_number": vat_number(siren),
        "email": row["email"],
        "address": f"{street}, {postcode} {city}",
        "street": street,
        "postcode": postcode,
        "city": city,
        "country_code": "FR",
        "einvoicing_address": row["einvoicing_address"] or siren,
        "departement_code": row["departement_code"],
    }
    return identity, row["departement_code"]


def seller_identity(settings: dict[str, Any]) -> dict[str, Any]:
    """Mandat as the seller, as the settings say at issue (with the VAT on debits option)."""
    return {**settings["seller_identity"], "vat_on_debits": bool(settings["vat_on_debits"])}


def vat_rate_bp(settings: dict[str, Any], departement: str | None) -> int:
    rates = settings["vat_rates_bp"]
    return int(rates.get(departement or "", rates["default"]))


# The agency's ledger lines not yet on any document, up to `until`, with the invoice their
# purchase is already on, if any (then a credit note corrects it), from `ledger_line l`.
UNBILLED = """
    LEFT JOIN ledger_line bought ON bought.purchase_id = l.purchase_id AND bought.kind = 'purchase'
    LEFT JOIN document_line d ON d.ledger_line_id = bought.id AND d.invoice_id IS NOT NULL
    WHERE {agencies} AND l.created_at < :until
      AND NOT EXISTS (SELECT 1 FROM document_line x WHERE x.ledger_line_id = l.id)
"""
# The same lines with what they were for, said as the document line says it (SQL, so that a run
# writes its lines without reading them back). The joins follow keys that never miss.
UNBILLED_FROM = (
    """
    FROM ledger_line l
    JOIN purchase p ON p.id = l.purchase_id
    JOIN lead ld ON ld.id = p.lead_id
    JOIN commune c ON c.code = ld.commune_code
    """
    + UNBILLED
)
LINE_DESCRIPTION = """
    CASE l.kind WHEN 'purchase' THEN 'Contact vendeur' ELSE 'Remboursement contact vendeur' END
    || CASE p.mode WHEN 'exclusive' THEN ' exclusif' ELSE ' partagé' END
    || ' — ' || c.name
    || ' — ' || to_char(l.created_at AT TIME ZONE 'Europe/Paris', 'DD/MM/YYYY')
"""
UNBILLED_LINES = (
    f"""
    SELECT l.agency_id, l.id, l.kind, l.amount_cents, l.purchase_id,
           {LINE_DESCRIPTION} AS description,
           d.invoice_id AS purchase_invoice_id,
           (SELECT i.status FROM invoice i WHERE i.id = d.invoice_id) AS purchase_invoice_status
    """
    + UNBILLED_FROM
    + "ORDER BY l.created_at, l.id"
)
_UNBILLED = text(UNBILLED_LINES.format(agencies="l.agency_id = :agency"))


@dataclass(frozen=True)
class Documents:
    invoice: Invoice | None
    credit_notes: list[CreditNote]


def bill_agency(
    session: Session,
    agency_id: uuid.UUID,
    period: date,
    now: datetime,
    run_id: uuid.UUID | None = None,
    settings: dict[str, Any] | None = None,
) -> Documents:
    """The agency's documents for a period: one invoice for its unbilled purchases (with the
    refunds of those same purchases as negative lines), and a credit note per earlier invoice
    whose purchases were refunded since. Nothing when nothing is unbilled. A run passes the
    settings it read once."""
    settings = settings or read_settings(session)
    _, until = period_bounds(period)
    lines = session.execute(_UNBILLED, {"agency": agency_id, "until": until}).mappings().all()
    if not lines:
        return Documents(None, [])
    buyer, departement = buyer_identity(session, agency_id)
    seller = seller_identity(settings)
    rate = vat_rate_bp(settings, departement)
    year = now.astimezone(PARIS).year
    on_invoice = [line for line in lines if line["purchase_invoice_id"] is None]
    invoice = None
    if on_invoice:
        ht = sum(int(line["amount_cents"]) for line in on_invoice)
        vat = vat_of(ht, rate)
        invoice = Invoice(
            agency_id=agency_id,
            period=period,
            number=next_number(session, "invoice", year),
            issued_at=now,
            due_at=now.astimezone(PARIS).date() + timedelta(days=int(settings["invoice_due_days"])),
            seller=seller,
            buyer=buyer,
            vat_rate_bp=rate,
            total_ht_cents=ht,
            vat_cents=vat,
            total_ttc_cents=ht + vat,
            run_id=run_id,
        )
        session.add(invoice)
        session.flush()
        session.add_all(_document_line(line, invoice_id=invoice.id) for line in on_invoice)
    credit_notes = []
    by_invoice: dict[uuid.UUID, list[Any]] = {}
    for line in lines:
        if line["purchase_invoice_id"] is not None:
            by_invoice.setdefault(line["purchase_invoice_id"], []).append(line)
    for invoice_id, refunds in by_invoice.items():
        credit_notes.append(
            credit_note(session, agency_id, invoice_id, refunds, now, seller, buyer, year)
        )
    session.flush()
    return Documents(invoice, credit_notes)


def credit_note(
    session: Session,
    agency_id: uuid.UUID,
    invoice_id: uuid.UUID,
    refunds: list[Any],
    now: datetime,
    seller: dict[str, Any],
    buyer: dict[str, Any],
    year: int,
) -> CreditNote:
    credited_rate = session.execute(
        text("SELECT vat_rate_bp FROM invoice WHERE id = :i"), {"i": invoice_id}
    ).scalar_one()
    ht = -sum(int(line["amount_cents"]) for line in refunds)
    vat = vat_of(ht, credited_rate)
    note = CreditNote(
        agency_id=agency_id,
        invoice_id=invoice_id,
        number=next_number(session, "credit_note", year),
        issued_at=now,
        seller=seller,
        buyer=buyer,
        vat_rate_bp=credited_rate,
        total_ht_cents=ht,
        vat_cents=vat,
        total_ttc_cents=ht + vat,
    )
    session.add(note)
    session.flush()
    session.add_all(_document_line(line, credit_note_id=note.id) for line in refunds)
    session.flush()
    return note


def credit_now(
    session: Session, agency_id: uuid.UUID, ledger_line_id: int, now: datetime
) -> CreditNote | None:
    """A credit note at once for a refund line whose purchase is on a paid invoice (the money
    goes back now); None otherwise (the next run bills it)."""
    lines = session.execute(_UNBILLED, {"agency": agency_id, "until": now}).mappings().all()
    line = next((x for x in lines if x["id"] == ledger_line_id), None)
    if line is None or line["purchase_invoice_status"] != "paid":
        return None
    buyer, _ = buyer_identity(session, agency_id)
    seller = seller_identity(read_settings(session))
    year = now.astimezone(PARIS).year
    return credit_note(
        session, agency_id, line["purchase_invoice_id"], [line], now, seller, buyer, year
    )


def _document_line(
    line: Any, invoice_id: uuid.UUID | None = None, credit_note_id: uuid.UUID | None = None
) -> DocumentLine:
    return DocumentLine(**document_line_values(line, invoice_id, credit_note_id))


def document_line_values(
    line: Any, invoice_id: uuid.UUID | None = None, credit_note_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """A document line's columns for an unbilled ledger line (`UNBILLED_LINES`)."""
    amount = int(line["amount_cents"]) if invoice_id else -int(line["amount_cents"])
    return {
        "invoice_id": invoice_id,
        "credit_note_id": credit_note_id,
        "ledger_line_id": line["id"],
        "purchase_id": line["purchase_id"],
        "description": line["description"],
        "amount_ht_cents": amount,
    }
