"""partners who may frame the estimation form; the estimation keeps the embedding origin

Revision ID: 0023
Revises: 0027

A partner (the `source` slug of the embed script) is registered by platform staff with the
origins whose pages may frame the form: the form page's `frame-ancestors` lists them, and an
unknown slug is framed by Mandat's own pages only. Step 1 records the page that embedded the form.
Create Date: 2026-12-02 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0023"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner",
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("allowed_origins", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("slug ~ '^[a-z0-9][a-z0-9._-]{0,63}$'", name=op.f("ck_partner_slug")),
        sa.CheckConstraint("cardinality(allowed_origins) BETWEEN 1 AND 20", name=op.f("ck_partner_origins")),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_partner")),
    )  # fmt: skip
    op.add_column("estimation", sa.Column("embedding_origin", sa.Text()))


def downgrade() -> None:
    op.drop_column("estimation", "embedding_origin")
    op.drop_table("partner")
