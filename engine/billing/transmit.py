"""Handing each stored Factur-X to an approved platform (plateforme agréée), once, then the
"paid" (encaissée) status of each payment of it, once, and keeping the lifecycle statuses the
platform reports (CGI art. 289 bis: issuing goes through such a platform; art. 290 A: the
payment data of services whose VAT is due on receipt).

`Platform` is the one interface an adapter implements. `FolderPlatform` is the working one: it
drops `<number>.pdf` and `<number>.json` (a manifest), then `<number>.paid.json` when the
document is paid (or paid back), into a folder (`MANDAT_EINVOICE_OUTBOX`) that a platform's
connector collects, and reads back the `<number>.status.json` files it leaves.
An adapter for a platform's API (docs/einvoicing.md) implements the same three methods.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text

from engine.billing.documents import PARIS
from engine.billing.einvoicing_models import LIFECYCLE
from engine.billing.facturx import percent
from engine.db import unit_of_work


@dataclass(frozen=True)
class Outgoing:
    """One e-invoice to hand over: the stored bytes and what a platform needs to route them."""

    einvoice_id: uuid.UUID
    number: str
    type_code: str
    pdf: bytes
    pdf_sha256: str
    seller_siren: str
    buyer_siren: str
    buyer_einvoicing_address: str
    total_ttc_cents: int


@dataclass(frozen=True)
class Paid:
    """The "paid" (encaissée, lifecycle code 212) status of a deposited e-invoice: the date of
    the payment and its amounts per VAT rate, as recorded when it happened (a credit note paid
    back: negative)."""

    payment_id: int
    number: str
    type_code: str
    paid_at: datetime
    vat_rate_bp: int
    base_cents: int
    vat_cents: int
    amount_cents: int


@dataclass(frozen=True)
class Reported:
    """A lifecycle status the platform reported for an e-invoice (by its number)."""

    number: str
    status: str
    at: datetime
    detail: str | None = None


class Platform(Protocol):
    name: str

    def deposit(self, document: Outgoing) -> str:
        """Hand the document over; the platform's reference for it. Called again for the same
        document (a crash before we recorded it), it must not make a second one."""

    def report_paid(self, payment: Paid) -> str:
        """Send the document's "paid" status; the platform's reference for it. Called again for
        the same payment, it must not make a second one."""

    def statuses(self) -> list[Reported]:
        """The lifecycle statuses reported since the platform was last asked (may repeat)."""


class FolderPlatform:
    """A folder a platform's connector collects from (and writes statuses to)."""

    name = "folder"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def deposit(self, document: Outgoing) -> str:
        manifest = {
            "number": document.number,
            "type_code": document.type_code,
            "format": "factur-x",
            "profile": "EN 16931",
            "file": f"{document.number}.pdf",
            "sha256": document.pdf_sha256,
            "seller_siren": document.seller_siren,
            "buyer_siren": document.buyer_siren,
            "buyer_einvoicing_address": document.buyer_einvoicing_address,
            "total_ttc_cents": document.total_ttc_cents,
        }
        # Written aside, then renamed: a connector never reads half a file. The same number
        # written again replaces identical bytes (idempotent).
        self._write(f"{document.number}.pdf", document.pdf)
        self._write(f"{document.number}.json", json.dumps(manifest, indent=2).encode())
        return document.number

    def report_paid(self, payment: Paid) -> str:
        name = f"{payment.number}.paid.json"
        status = {
            "number": payment.number,
            "type_code": payment.type_code,
            "status": "paid",
            "lifecycle_code": "212",  # Encaissée
            "paid_on": payment.paid_at.astimezone(PARIS).date().isoformat(),
            "currency": "EUR",
            "amounts": [
                {
                    "vat_rate": percent(payment.vat_rate_bp),
                    "base_cents": payment.base_cents,
                    "vat_cents": payment.vat_cents,
                    "amount_cents": payment.amount_cents,
                }
            ],
        }
        self._write(name, json.dumps(status, indent=2).encode())  # the same bytes again: one
        return name

    def statuses(self) -> list[Reported]:
        found = []
        for path in sorted(self.folder.glob("*.status.json")):
            data = json.loads(path.read_text())
            found.append(
                Reported(
                    data["number"],
                    data["status"],
                    datetime.fromisoformat(data["at"]),
                    data.get("detail"),
                )
            )
        return found

    def _write(self, name: str, content: bytes) -> None:
        partial = self.folder / f".{name}.partial"
        partial.write_bytes(content)
        os.replace(partial, self.folder / name)


def configured_platform() -> Platform | None:
    """The platform configured for this deployment; None: e-invoices are not handed over."""
    folder = os.environ.get("MANDAT_EINVOICE_OUTBOX")
    return FolderPlatform(Path(folder)) if folder else None


# Stored e-invoices not yet handed to the platform. Documents outside French VAT (Guyane,
# Mayotte) are e-reported, not e-invoiced (engine.billing.ereporting).
_TO_SEND = text("""
    SELECT e.id, e.number, e.pdf, e.pdf_sha256,
           CASE WHEN e.invoice_id IS NULL THEN '381' ELSE '380' END AS type_code,
           coalesce(i.seller, c.seller) AS seller, coalesce(i.buyer, c.buyer) AS buyer,
           coalesce(i.total_ttc_cents, c.total_ttc_cents) AS total_ttc_cents
    FROM einvoice e
    LEFT JOIN invoice i ON i.id = e.invoice_id LEFT JOIN credit_note c ON c.id = e.credit_note_id
    WHERE e.vat_category <> 'O'
      AND NOT EXISTS (SELECT 1 FROM einvoice_transmission t
                      WHERE t.einvoice_id = e.id AND t.platform = :platform)
    ORDER BY e.created_at, e.id
    LIMIT :limit
""")


# Payments of e-invoices the platform has, not yet reported to it: those whose VAT is due on
# receipt (a document with VAT, issued without the VAT on debits option: engine.billing.ereporting).
_PAID_TO_SEND = text("""
    SELECT p.id, e.number, CASE WHEN e.invoice_id IS NULL THEN '381' ELSE '380' END AS type_code,
           p.paid_at, p.vat_rate_bp, p.base_cents, p.vat_cents, p.amount_cents
    FROM document_payment p
    JOIN einvoice e ON e.invoice_id = p.invoice_id OR e.credit_note_id = p.credit_note_id
    JOIN einvoice_transmission t ON t.einvoice_id = e.id AND t.platform = :platform
    LEFT JOIN invoice i ON i.id = e.invoice_id LEFT JOIN credit_note c ON c.id = e.credit_note_id
    WHERE p.vat_rate_bp > 0
      AND NOT coalesce((coalesce(i.seller, c.seller)->>'vat_on_debits')::boolean, false)
      AND NOT EXISTS (SELECT 1 FROM payment_transmission s
                      WHERE s.document_payment_id = p.id AND s.platform = :platform)
    ORDER BY p.paid_at, p.id
    LIMIT :limit
""")


def transmit(platform: Platform, limit: int = 10_000) -> dict[str, int]:
    """Hand every stored e-invoice not yet handed over, then the "paid" status of each payment
    not yet reported, each recorded once; then store the statuses the platform reported."""
    with unit_of_work() as session:
        rows = session.execute(_TO_SEND, {"platform": platform.name, "limit": limit}).mappings()
        pending = [_outgoing(row) for row in rows]
    sent = 0
    for document in pending:
        reference = platform.deposit(document)
        with unit_of_work() as session:
            sent += session.execute(
                text("""
                    INSERT INTO einvoice_transmission (einvoice_id, platform, reference)
                    VALUES (:id, :platform, :reference) ON CONFLICT DO NOTHING
                """),
                {"id": document.einvoice_id, "platform": platform.name, "reference": reference},
            ).rowcount  # type: ignore[attr-defined]
    return {
        "transmitted": sent,
        "paid_reported": report_payments(platform, limit),
        "statuses": record_statuses(platform.name, platform.statuses()),
    }


def report_payments(platform: Platform, limit: int = 10_000) -> int:
    with unit_of_work() as session:
        rows = session.execute(_PAID_TO_SEND, {"platform": platform.name, "limit": limit})
        payments = [Paid(*row) for row in rows]
    reported = 0
    for payment in payments:
        reference = platform.report_paid(payment)
        with unit_of_work() as session:
            reported += session.execute(
                text("""
                    INSERT INTO payment_transmission (document_payment_id, platform, reference)
                    VALUES (:id, :platform, :reference) ON CONFLICT DO NOTHING
                """),
                {"id": payment.payment_id, "platform": platform.name, "reference": reference},
            ).rowcount  # type: ignore[attr-defined]
    return reported


def record_statuses(platform: str, reported: list[Reported]) -> int:
    """Store each status once (a status reported again changes nothing); a status outside the
    reform's list is skipped (the database refuses it too)."""
    stored = 0
    with unit_of_work() as session:
        for status in reported:
            if status.status not in LIFECYCLE:
                continue
            stored += session.execute(
                text("""
                    INSERT INTO einvoice_status (einvoice_id, platform, status, detail, reported_at)
                    SELECT e.id, :platform, :status, :detail, :at FROM einvoice e
                    WHERE e.number = :number
                    ON CONFLICT DO NOTHING
                """),
                {
                    "platform": platform,
                    "status": status.status,
                    "detail": status.detail,
                    "at": status.at,
                    "number": status.number,
                },
            ).rowcount  # type: ignore[attr-defined]
    return stored


def _outgoing(row: Any) -> Outgoing:
    return Outgoing(
        einvoice_id=row["id"],
        number=row["number"],
        type_code=row["type_code"],
        pdf=bytes(row["pdf"]),
        pdf_sha256=row["pdf_sha256"],
        seller_siren=row["seller"].get("siren") or row["seller"]["siret"][:9],
        buyer_siren=row["buyer"]["siren"],
        buyer_einvoicing_address=row["buyer"].get("einvoicing_address") or row["buyer"]["siren"],
        total_ttc_cents=int(row["total_ttc_cents"]),
    )
