"""refunds

Revision ID: 0008
Revises: 0007

Refund requests (one per purchase, decided by a rule or by finance, with their effect on the
money), the withdrawal of a homeowner's consent for one agency, and outbox messages addressed
to a homeowner.
Create Date: 2026-11-26 07:18:11.253629
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


SETTINGS = {
    "refund_window_days": 7,
    "refund_review_rate_bp": 3000,
    "retention_unsold_days": 90,
    "retention_sold_days": 1095,
}


def upgrade() -> None:
    op.create_table(
        "refund_request",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("purchase_id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("comment", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("call_attempts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("decision_rule", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("approved_amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("ledger_line_id", sa.BigInteger(), nullable=True),
        sa.Column("credit_note_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)",
            name=op.f("ck_refund_request_decided_when_not_pending"),
        ),
        sa.CheckConstraint(
            "reason <> 'other' OR length(trim(comment)) > 0",
            name=op.f("ck_refund_request_other_explained"),
        ),
        sa.CheckConstraint(
            "reason IN ('unreachable', 'wrong_number', 'not_owner', 'fake', 'already_sold_or_under_mandate', 'duplicate', 'out_of_zone', 'other')",
            name=op.f("ck_refund_request_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name=op.f("ck_refund_request_status")
        ),
        sa.CheckConstraint(
            "approved_amount_cents IS NULL OR approved_amount_cents > 0",
            name=op.f("ck_refund_request_amount_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_refund_request_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_note.id"],
            name=op.f("fk_refund_request_credit_note_id_credit_note"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["api_key.id"], name=op.f("fk_refund_request_decided_by_api_key")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_line_id"],
            ["ledger_line.id"],
            name=op.f("fk_refund_request_ledger_line_id_ledger_line"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["purchase.id"], name=op.f("fk_refund_request_purchase_id_purchase")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["api_key.id"], name=op.f("fk_refund_request_requested_by_api_key")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_request")),
        sa.UniqueConstraint("purchase_id", name="uq_refund_request_once_per_purchase"),
    )
    op.create_index(
        "ix_refund_request_agency", "refund_request", ["agency_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_refund_request_status_created", "refund_request", ["status", "created_at"], unique=False
    )
    op.add_column(
        "lead_consent", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("lead", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    # Messages to homeowners (their confirmation and private link) go through the outbox too.
    op.add_column("outbox", sa.Column("recipient", sa.Text(), nullable=True))
    op.alter_column("outbox", "agency_id", existing_type=sa.Uuid(), nullable=True)
    op.create_check_constraint(
        op.f("ck_outbox_one_recipient"), "outbox", "(agency_id IS NULL) = (recipient IS NOT NULL)"
    )
    setting = sa.table("setting", sa.column("key", sa.Text), sa.column("value", postgresql.JSONB))
    op.bulk_insert(setting, [{"key": k, "value": v} for k, v in SETTINGS.items()])


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE agency_id IS NULL")
    op.drop_constraint(op.f("ck_outbox_one_recipient"), "outbox", type_="check")
    op.alter_column("outbox", "agency_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_column("outbox", "recipient")
    op.drop_column("lead", "erased_at")
    op.execute(f"DELETE FROM setting WHERE key IN {tuple(SETTINGS)!r}")
    op.drop_column("lead_consent", "withdrawn_at")
    op.drop_index("ix_refund_request_status_created", table_name="refund_request")
    op.drop_index("ix_refund_request_agency", table_name="refund_request")
    op.drop_table("refund_request")
