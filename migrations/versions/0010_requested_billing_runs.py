"""requested billing runs

Revision ID: 0010
Revises: 0009

A billing run asked for over the API is recorded as requested (not started) and run by the
scheduler: the month's run no longer happens inside an HTTP request.
Create Date: 2026-11-26 10:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("billing_run", sa.Column("requested_at", sa.DateTime(timezone=True)))
    op.add_column("billing_run", sa.Column("requested_by", sa.Uuid()))
    op.create_foreign_key(
        op.f("fk_billing_run_requested_by_api_key"), "billing_run", "api_key",
        ["requested_by"], ["id"],
    )  # fmt: skip
    op.alter_column("billing_run", "started_at", existing_type=sa.DateTime(timezone=True),
                    nullable=True)  # fmt: skip
    op.create_index(
        "ix_billing_run_requested", "billing_run", ["requested_at"],
        postgresql_where=sa.text("started_at IS NULL"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_billing_run_requested", table_name="billing_run")
    op.execute("DELETE FROM billing_run WHERE started_at IS NULL")
    op.alter_column("billing_run", "started_at", existing_type=sa.DateTime(timezone=True),
                    nullable=False)  # fmt: skip
    op.drop_constraint(op.f("fk_billing_run_requested_by_api_key"), "billing_run",
                       type_="foreignkey")  # fmt: skip
    op.drop_column("billing_run", "requested_by")
    op.drop_column("billing_run", "requested_at")
