"""a document line's key to its invoice is checked at commit: a batch writes its lines before it
takes its numbers

Revision ID: 0041
Revises: 0040

Issue 16. A billing batch holds the invoice series' row lock from the moment it takes its
numbers until it commits, so no two batches could write at once. Writing the lines first (their
invoices' ids are chosen beforehand) leaves only the invoices' insert and the commit under the
lock, and lets a second batch write its lines meanwhile. The key from a line to its invoice is
still checked, at commit instead of at once, in the transaction that wrote both; the checks of
a document's total against its lines were already there (0038).
Create Date: 2026-12-03 12:00:00.000000
"""

from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE document_line ALTER CONSTRAINT fk_document_line_invoice_id_invoice "
        "DEFERRABLE INITIALLY DEFERRED"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE document_line ALTER CONSTRAINT fk_document_line_invoice_id_invoice "
        "NOT DEFERRABLE INITIALLY IMMEDIATE"
    )
