"""payment data and documents that are not e-invoices

Revision ID: 0030
Revises: 0035

French e-invoicing, what issue 14 left (docs/einvoicing.md): the payment data of the reform
(CGI art. 290 A: services whose VAT is due on receipt report each payment). `document_payment`
keeps each payment as it happened, once, with its amounts fixed then: an invoice collected
(its total less the credit notes deducted from the charge) and a credit note paid back (negative
amounts). `payment_transmission` records each one handed to the approved platform as the
document's "paid" (encaissée) lifecycle status.
`einvoice_exclusion` records the documents whose stored record cannot make a Factur-X (written
before 0012: no structured addresses, no SIREN): they stay JSON and HTML documents, the
`einvoices` job no longer tries them, finance reads them with the reason.
Back-fill: each paid invoice (less the credit notes issued before its payment) and each credit
note already paid back, dated when it was issued (the refund's own moment was not kept).
Create Date: 2026-12-02 22:00:00.000000
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0035"
branch_labels = None
depends_on = None

APPEND_ONLY = ("document_payment", "einvoice_exclusion")


def _one_document(table: str) -> list[Any]:
    return [
        sa.Column("invoice_id", sa.Uuid()),
        sa.Column("credit_note_id", sa.Uuid()),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"], name=op.f(f"fk_{table}_invoice_id_invoice")),
        sa.ForeignKeyConstraint(["credit_note_id"], ["credit_note.id"], name=op.f(f"fk_{table}_credit_note_id_credit_note")),
        sa.UniqueConstraint("invoice_id", name=op.f(f"uq_{table}_invoice_id")),
        sa.UniqueConstraint("credit_note_id", name=op.f(f"uq_{table}_credit_note_id")),
        sa.CheckConstraint(
            "(invoice_id IS NULL) <> (credit_note_id IS NULL)", name=op.f(f"ck_{table}_one_document")
        ),
    ]  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "document_payment",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        *_one_document("document_payment"),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vat_rate_bp", sa.Integer(), nullable=False),
        sa.Column("base_cents", sa.BigInteger(), nullable=False),
        sa.Column("vat_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_payment")),
        sa.CheckConstraint(
            "amount_cents = base_cents + vat_cents", name=op.f("ck_document_payment_amounts")
        ),
    )  # fmt: skip
    op.create_index("ix_document_payment_paid_at", "document_payment", ["paid_at"])
    op.create_table(
        "payment_transmission",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("document_payment_id", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column(
            "transmitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_transmission")),
        sa.ForeignKeyConstraint(["document_payment_id"], ["document_payment.id"], name=op.f("fk_payment_transmission_document_payment_id_document_payment")),
        sa.UniqueConstraint("document_payment_id", "platform", name=op.f("uq_payment_transmission_document_payment_id_platform")),
    )  # fmt: skip
    op.create_table(
        "einvoice_exclusion",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        *_one_document("einvoice_exclusion"),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_einvoice_exclusion")),
    )  # fmt: skip
    op.execute("""
        INSERT INTO document_payment (invoice_id, paid_at, vat_rate_bp, base_cents, vat_cents,
                                      amount_cents)
        SELECT i.id, i.paid_at, i.vat_rate_bp, i.total_ht_cents - coalesce(c.ht, 0),
               i.vat_cents - coalesce(c.vat, 0), i.total_ttc_cents - coalesce(c.ttc, 0)
        FROM invoice i
        LEFT JOIN LATERAL (
            SELECT sum(total_ht_cents) AS ht, sum(vat_cents) AS vat, sum(total_ttc_cents) AS ttc
            FROM credit_note WHERE invoice_id = i.id AND issued_at <= i.paid_at
        ) c ON true
        WHERE i.status = 'paid' AND i.paid_at IS NOT NULL
          AND i.total_ttc_cents - coalesce(c.ttc, 0) > 0
    """)
    op.execute("""
        INSERT INTO document_payment (credit_note_id, paid_at, vat_rate_bp, base_cents,
                                      vat_cents, amount_cents)
        SELECT id, issued_at, vat_rate_bp, -total_ht_cents, -vat_cents, -total_ttc_cents
        FROM credit_note WHERE refund_status = 'refunded'
    """)
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.drop_table("einvoice_exclusion")
    op.drop_table("payment_transmission")
    op.drop_index("ix_document_payment_paid_at", table_name="document_payment")
    op.drop_table("document_payment")
