"""billing

Revision ID: 0007
Revises: 0006

Invoices and credit notes with gap-free number series, their lines (each ledger line billed
once), payment attempts written before Stripe is called, Stripe events stored once, dunning,
billing runs; the agency's Stripe customer and payment method.
Create Date: 2026-11-26 07:02:47.637190
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


VAT_RATES_BP = {"default": 2000, "971": 850, "972": 850, "974": 850, "973": 0, "976": 0}
SETTINGS = {
    "vat_rates_bp": VAT_RATES_BP,
    "invoice_due_days": 15,
    "dunning_reminder_days": [3, 7],
    "dunning_suspend_days": 15,
    "seller_identity": {
        "name": "Mandat SAS",
        "siret": "90000000110008",
        "vat_number": "FR68900000001",
        "address": "10 rue de l'Exemple, 75002 Paris",
        "legal": "SAS au capital de 10 000 € — RCS Paris 900 000 001 (identité de démonstration)",
    },
}


def upgrade() -> None:
    op.create_table(
        "billing_run",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invoices", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("charged", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_run")),
    )
    op.create_table(
        "number_series",
        sa.Column("doc_type", sa.String(length=16), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("last_number", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "doc_type IN ('invoice', 'credit_note')", name=op.f("ck_number_series_doc_type")
        ),
        sa.PrimaryKeyConstraint("doc_type", "year", name=op.f("pk_number_series")),
    )
    op.create_table(
        "stripe_event",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_event")),
    )
    op.create_table(
        "invoice",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.Date(), nullable=False),
        sa.Column("seller", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("buyer", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("vat_rate_bp", sa.Integer(), nullable=False),
        sa.Column("total_ht_cents", sa.BigInteger(), nullable=False),
        sa.Column("vat_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_ttc_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'open'"), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stripe_payment_intent_id", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'paid', 'payment_failed')", name=op.f("ck_invoice_status")
        ),
        sa.CheckConstraint(
            "extract(day FROM period) = 1", name=op.f("ck_invoice_period_is_a_month")
        ),
        sa.CheckConstraint(
            "total_ttc_cents = total_ht_cents + vat_cents", name=op.f("ck_invoice_totals")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_invoice_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["billing_run.id"], name=op.f("fk_invoice_run_id_billing_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice")),
        sa.UniqueConstraint("agency_id", "period", name="uq_invoice_agency_period"),
        sa.UniqueConstraint("number", name="uq_invoice_number"),
    )
    op.create_index("ix_invoice_status", "invoice", ["status"], unique=False)
    op.create_table(
        "credit_note",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seller", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("buyer", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("vat_rate_bp", sa.Integer(), nullable=False),
        sa.Column("total_ht_cents", sa.BigInteger(), nullable=False),
        sa.Column("vat_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_ttc_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "refund_status",
            sa.String(length=16),
            server_default=sa.text("'pending'"),
            nullable=False,
        ),
        sa.Column("stripe_refund_id", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "refund_status IN ('pending', 'refunded', 'failed')",
            name=op.f("ck_credit_note_refund_status"),
        ),
        sa.CheckConstraint("total_ht_cents >= 0", name=op.f("ck_credit_note_positive")),
        sa.CheckConstraint(
            "total_ttc_cents = total_ht_cents + vat_cents", name=op.f("ck_credit_note_totals")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_credit_note_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_credit_note_invoice_id_invoice")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_note")),
        sa.UniqueConstraint("number", name="uq_credit_note_number"),
    )
    op.create_table(
        "dunning",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_3_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_7_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_dunning_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_dunning_invoice_id_invoice")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning")),
    )
    op.create_index(
        "uq_dunning_open_per_invoice",
        "dunning",
        ["invoice_id"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_table(
        "payment_attempt",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("stripe_payment_intent_id", sa.Text(), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'unreachable')",
            name=op.f("ck_payment_attempt_status"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_payment_attempt_invoice_id_invoice")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempt")),
        sa.UniqueConstraint("invoice_id", "attempt", name="uq_payment_attempt"),
    )
    op.create_index(
        "uq_payment_attempt_one_success",
        "payment_attempt",
        ["invoice_id"],
        unique=True,
        postgresql_where=sa.text("status = 'succeeded'"),
    )
    op.create_table(
        "document_line",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("credit_note_id", sa.Uuid(), nullable=True),
        sa.Column("ledger_line_id", sa.BigInteger(), nullable=False),
        sa.Column("purchase_id", sa.Uuid(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("amount_ht_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "(invoice_id IS NULL) <> (credit_note_id IS NULL)",
            name=op.f("ck_document_line_one_document"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_note.id"],
            name=op.f("fk_document_line_credit_note_id_credit_note"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_document_line_invoice_id_invoice")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_line_id"],
            ["ledger_line.id"],
            name=op.f("fk_document_line_ledger_line_id_ledger_line"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["purchase.id"], name=op.f("fk_document_line_purchase_id_purchase")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_line")),
        sa.UniqueConstraint("ledger_line_id", name="uq_document_line_ledger_line"),
    )
    op.create_index(
        "ix_document_line_credit_note", "document_line", ["credit_note_id"], unique=False
    )
    op.create_index("ix_document_line_invoice", "document_line", ["invoice_id"], unique=False)
    op.add_column("agency", sa.Column("stripe_customer_id", sa.Text(), nullable=True))
    op.add_column("agency", sa.Column("stripe_payment_method_id", sa.Text(), nullable=True))
    op.add_column("agency", sa.Column("suspension_reason", sa.Text(), nullable=True))
    setting = sa.table("setting", sa.column("key", sa.Text), sa.column("value", postgresql.JSONB))
    op.bulk_insert(setting, [{"key": k, "value": v} for k, v in SETTINGS.items()])


def downgrade() -> None:
    op.execute(f"DELETE FROM setting WHERE key IN {tuple(SETTINGS)!r}")
    op.drop_column("agency", "suspension_reason")
    op.drop_column("agency", "stripe_payment_method_id")
    op.drop_column("agency", "stripe_customer_id")
    op.drop_index("ix_document_line_invoice", table_name="document_line")
    op.drop_index("ix_document_line_credit_note", table_name="document_line")
    op.drop_table("document_line")
    op.drop_index(
        "uq_payment_attempt_one_success",
        table_name="payment_attempt",
        postgresql_where=sa.text("status = 'succeeded'"),
    )
    op.drop_table("payment_attempt")
    op.drop_index(
        "uq_dunning_open_per_invoice",
        table_name="dunning",
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.drop_table("dunning")
    op.drop_table("credit_note")
    op.drop_index("ix_invoice_status", table_name="invoice")
    op.drop_table("invoice")
    op.drop_table("stripe_event")
    op.drop_table("number_series")
    op.drop_table("billing_run")
