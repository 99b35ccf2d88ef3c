"""marketplace

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

Offers, purchases, the ledger, idempotency keys, the price grid's versions, the audit log and
the notification outbox. The selling guarantees of docs/rules.md §5 are constraints; the ledger and
the audit log refuse UPDATE and DELETE.
"""

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

SETTINGS = {"exclusive_window_hours": 24, "shared_cap": 3, "offer_days": 30}
# docs/rules.md §6's default grid, as `engine.pricing.grid.PriceGrid().to_json()` wrote it.
DEFAULT_GRID = json.loads(
    """{"base_cents": {"exclusive": 8000, "shared": 3000}, "bands": [{"below_eur": 150000, "factor": "0.6"}, {"below_eur": 400000, "factor": "1.0"}, {"below_eur": 1000000, "factor": "1.5"}, {"below_eur": null, "factor": "2.5"}], "no_estimate_factor": "2.5", "grade_factors": {"A": "1.2", "B": "1.0", "C": "0.7"}, "competition_step": "0.05", "competition_pivot": 3, "competition_bounds": ["0.8", "1.5"], "floor_cents": 1000}"""
)
APPEND_ONLY = ("ledger_line", "audit_log")

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_idempotency_key_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("agency_id", "key", name=op.f("pk_idempotency_key")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("event_key", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("channel IN ('webhook', 'email')", name=op.f("ck_outbox_channel")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_outbox_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("agency_id", "channel", "event", "event_key", name="uq_outbox_event"),
    )
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("delivered_at IS NULL AND gave_up_at IS NULL"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor_key_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=True),
        sa.Column("agency_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_key_id"], ["api_key.id"], name=op.f("fk_audit_log_actor_key_id_api_key")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_audit_log_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_subject", "audit_log", ["subject_type", "subject_id"], unique=False
    )
    op.create_table(
        "price_grid",
        sa.Column("version", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("rules", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["api_key.id"], name=op.f("fk_price_grid_created_by_api_key")
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_price_grid")),
    )
    op.create_table(
        "offer",
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exclusive_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shared_cap", sa.SmallInteger(), nullable=False),
        sa.Column("exclusive_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("shared_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("price_grid_version", sa.Integer(), nullable=False),
        sa.Column("price_factors", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("exclusive_buyer", sa.Uuid(), nullable=True),
        sa.Column("shared_buyers", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_reason", sa.Text(), nullable=True),
        sa.Column(
            "announced", sa.String(length=16), server_default=sa.text("'none'"), nullable=False
        ),
        sa.CheckConstraint(
            "NOT (exclusive_buyer IS NOT NULL AND shared_buyers > 0)",
            name=op.f("ck_offer_one_mode"),
        ),
        sa.CheckConstraint(
            "created_at <= exclusive_until AND exclusive_until <= expires_at",
            name=op.f("ck_offer_timeline"),
        ),
        sa.CheckConstraint(
            "exclusive_price_cents > shared_price_cents", name=op.f("ck_offer_exclusive_dearer")
        ),
        sa.CheckConstraint(
            "shared_buyers BETWEEN 0 AND shared_cap", name=op.f("ck_offer_shared_cap")
        ),
        sa.CheckConstraint("shared_price_cents >= 0", name=op.f("ck_offer_price_positive")),
        sa.ForeignKeyConstraint(
            ["exclusive_buyer"], ["agency.id"], name=op.f("fk_offer_exclusive_buyer_agency")
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"], name=op.f("fk_offer_lead_id_lead")),
        sa.ForeignKeyConstraint(
            ["price_grid_version"],
            ["price_grid.version"],
            name=op.f("fk_offer_price_grid_version_price_grid"),
        ),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_offer")),
    )
    op.create_index(
        "ix_offer_open",
        "offer",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("withdrawn_at IS NULL"),
    )
    op.create_table(
        "purchase",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bought_by", sa.Uuid(), nullable=True),
        sa.Column(
            "pipeline_status", sa.String(length=16), server_default=sa.text("'new'"), nullable=False
        ),
        sa.Column("notes", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("allocation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("mode IN ('exclusive', 'shared')", name=op.f("ck_purchase_mode")),
        sa.CheckConstraint(
            "pipeline_status IN ('new', 'contacted', 'appointment', 'mandate_signed', 'lost')",
            name=op.f("ck_purchase_pipeline_status"),
        ),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_purchase_price")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_purchase_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["bought_by"], ["api_key.id"], name=op.f("fk_purchase_bought_by_api_key")
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["offer.lead_id"], name=op.f("fk_purchase_lead_id_offer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase")),
        sa.UniqueConstraint("lead_id", "agency_id", name="uq_purchase_once_per_agency"),
    )
    op.create_index(
        "ix_purchase_agency_created", "purchase", ["agency_id", "created_at"], unique=False
    )
    op.create_index(
        "uq_purchase_one_exclusive",
        "purchase",
        ["lead_id"],
        unique=True,
        postgresql_where=sa.text("mode = 'exclusive'"),
    )
    op.create_table(
        "ledger_line",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("purchase_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'purchase') = (amount_cents >= 0)",
            name=op.f("ck_ledger_line_sign_follows_kind"),
        ),
        sa.CheckConstraint("kind IN ('purchase', 'refund')", name=op.f("ck_ledger_line_kind")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_ledger_line_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["purchase.id"], name=op.f("fk_ledger_line_purchase_id_purchase")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_line")),
    )
    op.create_index(
        "ix_ledger_line_agency_created", "ledger_line", ["agency_id", "created_at"], unique=False
    )
    op.create_index(
        "uq_ledger_line_one_per_purchase",
        "ledger_line",
        ["purchase_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'purchase'"),
    )
    op.add_column("estimation", sa.Column("street", sa.Text(), nullable=True))
    op.add_column(
        "agency",
        sa.Column(
            "webhook_secret",
            sa.Text(),
            server_default=sa.text(
                "replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')"
            ),
            nullable=False,
        ),
    )
    op.execute("""
        CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
        END $$
    """)
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )
    grid = sa.table("price_grid", sa.column("rules", postgresql.JSONB))
    op.bulk_insert(grid, [{"rules": DEFAULT_GRID}])
    setting = sa.table("setting", sa.column("key", sa.Text), sa.column("value", postgresql.JSONB))
    op.bulk_insert(setting, [{"key": k, "value": v} for k, v in SETTINGS.items()])


def downgrade() -> None:
    op.execute(f"DELETE FROM setting WHERE key IN {tuple(SETTINGS)!r}")
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP FUNCTION refuse_change()")
    op.drop_column("agency", "webhook_secret")
    op.drop_column("estimation", "street")
    op.drop_index(
        "uq_ledger_line_one_per_purchase",
        table_name="ledger_line",
        postgresql_where=sa.text("kind = 'purchase'"),
    )
    op.drop_index("ix_ledger_line_agency_created", table_name="ledger_line")
    op.drop_table("ledger_line")
    op.drop_index(
        "uq_purchase_one_exclusive",
        table_name="purchase",
        postgresql_where=sa.text("mode = 'exclusive'"),
    )
    op.drop_index("ix_purchase_agency_created", table_name="purchase")
    op.drop_table("purchase")
    op.drop_index(
        "ix_offer_open", table_name="offer", postgresql_where=sa.text("withdrawn_at IS NULL")
    )
    op.drop_table("offer")
    op.drop_table("price_grid")
    op.drop_index("ix_audit_log_subject", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(
        "ix_outbox_due",
        table_name="outbox",
        postgresql_where=sa.text("delivered_at IS NULL AND gave_up_at IS NULL"),
    )
    op.drop_table("outbox")
    op.drop_table("idempotency_key")
