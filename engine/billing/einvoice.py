"""Issuing each invoice and credit note as a Factur-X PDF (PDF/A-3b with its CII XML), once.

The document is numbered and committed first (`bill_agency`, under the series lock); its
Factur-X is made afterwards from the stored record, outside any lock, and stored once with the
PDF's SHA-256 (`einvoice`, append-only): the bytes an agency downloads, the ones e-mailed and
the ones handed to the approved platform are the same, never regenerated.

A document whose stored record cannot make a valid Factur-X (written before the data the
mentions need was kept, migration 0012) is not an e-invoice: the `einvoices` job records why
(`einvoice_exclusion`) and no longer tries it, the PDF route answers 409 `not_einvoiced` with
the reason, its JSON and HTML stay the document, and finance lists them (`exclusions`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from multiprocessing import get_context
from typing import Any

import pikepdf
from facturx import generate_from_binary
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from weasyprint import HTML

from engine.billing.documents import PARIS
from engine.billing.facturx import DocumentIncomplete, cii_xml
from engine.billing.printable import printable_page
from engine.billing.read_models import ExcludedDocument, StoredPdf
from engine.billing.views import document
from engine.db import unit_of_work
from engine.errors import Conflict, NotFound
from engine.notify.outbox import enqueue
from engine.pagination import read_cursor, write_cursor

log = logging.getLogger("mandat.einvoice")
KINDS = ("invoice", "credit_note")

# Documents without their Factur-X yet, oldest first (not those that cannot have one).
_PENDING = text("""
    SELECT 'invoice' AS kind, i.id, i.issued_at FROM invoice i
    WHERE NOT EXISTS (SELECT 1 FROM einvoice e WHERE e.invoice_id = i.id)
      AND NOT EXISTS (SELECT 1 FROM einvoice_exclusion x WHERE x.invoice_id = i.id)
    UNION ALL
    SELECT 'credit_note', c.id, c.issued_at FROM credit_note c
    WHERE NOT EXISTS (SELECT 1 FROM einvoice e WHERE e.credit_note_id = c.id)
      AND NOT EXISTS (SELECT 1 FROM einvoice_exclusion x WHERE x.credit_note_id = c.id)
    ORDER BY issued_at, id
    LIMIT :limit
""")


class NotEInvoiced(Conflict):
    """The document cannot be an e-invoice as stored (`reason`: why); it stays a JSON and HTML
    document. Documents are immutable: this never changes, so it is recorded once."""

    code = "not_einvoiced"

    def __init__(self, number: str, reason_code: str, reason: str) -> None:
        super().__init__(
            f"{number} cannot be an e-invoice as stored ({reason.rstrip('.')}): its JSON and"
            " printable page are the document.",
            reason=reason_code,
        )
        self.reason_code = reason_code
        self.reason = reason


@dataclass(frozen=True)
class Rendered:
    xml: bytes
    pdf: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()


def render(doc: Mapping[str, Any]) -> Rendered:
    """The Factur-X of a stored document (its fields: `asdict` of its record): its printable
    page as PDF/A-3b (WeasyPrint), the XML embedded as factur-x.xml (factur-x), the document
    information aligned on the XMP."""
    xml = cii_xml(doc)
    title = f"{'Facture' if doc['type'] == 'invoice' else 'Avoir'} {doc['number']}"
    page = HTML(string=printable_page(doc, printed=True)).write_pdf(
        pdf_variant="pdf/a-3b", pdf_identifier=doc["number"].encode(), uncompressed_pdf=False
    )
    embedded = generate_from_binary(
        page,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=False,  # cii_xml checked it
        lang="fr-FR",
        pdf_metadata={"author": doc["seller"]["name"], "title": title, "subject": title},
    )
    return Rendered(xml, _align_info_on_xmp(embedded))


def _align_info_on_xmp(pdf_bytes: bytes) -> bytes:
    """PDF/A wants the document information and the XMP to say the same: factur-x writes the XMP
    (producer "pypdf") but leaves WeasyPrint's /Producer and an empty /Keywords in /Info."""
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            producer = meta.get("pdf:Producer")
            creator = meta.get("xmp:CreatorTool")
        info = pdf.docinfo
        for key in ("/Keywords", "/ModDate"):
            if key in info:
                del info[key]
        if producer:
            info["/Producer"] = producer
        if creator:
            info["/Creator"] = creator
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue()


def issue(session: Session, kind: str, doc_id: uuid.UUID) -> bool:
    """Store the document's Factur-X if it has none (and e-mail it to the agency); True when
    this call stored it. Two callers at once store one: the second finds the first's."""
    if kind not in KINDS:
        raise NotFound("No such document.", code="document_not_found")
    column = f"{kind}_id"
    exists = session.execute(
        text(f"SELECT 1 FROM einvoice WHERE {column} = :id"), {"id": doc_id}
    ).first()
    if exists:
        return False
    doc = document(session, kind, doc_id, None)
    excluded = session.execute(
        text(f"SELECT code, reason FROM einvoice_exclusion WHERE {column} = :id"), {"id": doc_id}
    ).first()
    if excluded:
        raise NotEInvoiced(doc.number, excluded.code, excluded.reason)
    try:
        rendered = render(asdict(doc))
    except DocumentIncomplete as error:
        raise NotEInvoiced(doc.number, error.code, error.message) from error
    stored = session.execute(
        text(f"""
            INSERT INTO einvoice ({column}, agency_id, number, vat_category, xml, pdf, pdf_sha256)
            VALUES (:id, :agency, :number, :category, :xml, :pdf, :sha)
            ON CONFLICT ({column}) DO NOTHING RETURNING id
        """),
        {
            "id": doc_id,
            "agency": doc.agency_id,
            "number": doc.number,
            "category": doc.vat_category,
            "xml": rendered.xml,
            "pdf": rendered.pdf,
            "sha": rendered.sha256,
        },
    ).scalar()
    if stored is None:
        return False
    enqueue(
        session,
        [doc.agency_id],
        "einvoice.issued",
        f"{doc_id}:einvoice",
        {
            "einvoice_id": stored,
            "subject": f"Mandat — {'Facture' if kind == 'invoice' else 'Avoir'} {doc.number}",
            "document": kind,
            "document_id": doc_id,
            "number": doc.number,
            "total_ttc_cents": doc.total_ttc_cents,
            "pdf_sha256": rendered.sha256,
        },
    )
    return True


def stored_pdf(
    session: Session, kind: str, doc_id: uuid.UUID, agency_id: uuid.UUID | None
) -> StoredPdf:
    """The stored Factur-X of a document the caller may read (its PDF bytes, number, hash),
    issued now if it was not yet (the same bytes from then on)."""
    document(session, kind, doc_id, agency_id)  # 404 unless the caller's (or finance's)
    issue(session, kind, doc_id)
    row = session.execute(
        text(f"SELECT number, pdf, pdf_sha256 FROM einvoice WHERE {kind}_id = :id"),
        {"id": doc_id},
    ).one()
    return StoredPdf(number=row.number, pdf=bytes(row.pdf), sha256=row.pdf_sha256)


@dataclass
class IssueReport:
    issued: int = 0
    incomplete: int = 0  # not e-invoices, recorded for finance (never tried again)
    failed: int = 0  # an unexpected error, logged: tried again next time


def issue_pending(limit: int = 100_000, workers: int = 1) -> IssueReport:
    """Issue the Factur-X of every document without one, each in its own transaction; with
    `workers` > 1, in that many processes (rendering is CPU-bound)."""
    with unit_of_work() as session:
        pending = [(r.kind, r.id) for r in session.execute(_PENDING, {"limit": limit})]
    if workers <= 1 or len(pending) < 2 * workers:
        return _issue_many(pending)
    chunks = [pending[n::workers] for n in range(workers)]
    report = IssueReport()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for part in pool.map(_issue_many, chunks):
            report.issued += part.issued
            report.incomplete += part.incomplete
            report.failed += part.failed
    return report


def _issue_many(documents: list[tuple[str, uuid.UUID]]) -> IssueReport:
    """Each document on its own: one that cannot be an e-invoice is recorded and skipped from
    then on; one that fails otherwise is logged and left for the next pass, never stopping the
    others (a database error does stop the pass)."""
    report = IssueReport()
    for kind, doc_id in documents:
        try:
            with unit_of_work() as session:
                report.issued += issue(session, kind, doc_id)
        except NotEInvoiced as error:
            report.incomplete += 1
            log.warning("no Factur-X for %s %s: %s", kind, doc_id, error.message)
            with unit_of_work() as session:
                session.execute(
                    text(f"""
                        INSERT INTO einvoice_exclusion ({kind}_id, code, reason)
                        VALUES (:id, :code, :reason) ON CONFLICT DO NOTHING
                    """),
                    {"id": doc_id, "code": error.reason_code, "reason": error.reason},
                )
        except SQLAlchemyError:
            raise
        except Exception:
            report.failed += 1
            log.exception("Factur-X of %s %s failed: tried again next time", kind, doc_id)
    return report


# Documents that are not e-invoices, newest first, with the reason.
_EXCLUDED = text("""
    SELECT d.type, d.id, d.number, d.issued_at, d.agency_id, x.code, x.reason, x.recorded_at
    FROM einvoice_exclusion x
    JOIN (SELECT 'invoice' AS type, id, number, issued_at, agency_id FROM invoice
          UNION ALL
          SELECT 'credit_note', id, number, issued_at, agency_id FROM credit_note
         ) d ON d.id = coalesce(x.invoice_id, x.credit_note_id)
    WHERE CAST(:at AS timestamptz) IS NULL OR (d.issued_at, d.id) < (:at, :last)
    ORDER BY d.issued_at DESC, d.id DESC
    LIMIT :limit
""")


def exclusions(
    session: Session, limit: int, cursor: str | None
) -> tuple[list[ExcludedDocument], str | None]:
    """The documents that are not e-invoices (finance), with why; a page and the next cursor."""
    at, last = read_cursor(cursor, datetime) if cursor else (None, None)
    rows = session.execute(_EXCLUDED, {"at": at, "last": last, "limit": limit + 1}).mappings()
    items = [
        ExcludedDocument(**row, issued_on=row["issued_at"].astimezone(PARIS).date()) for row in rows
    ]
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = write_cursor(items[-1].issued_at, items[-1].id)
    return items, next_cursor
