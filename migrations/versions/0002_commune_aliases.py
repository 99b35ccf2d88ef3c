"""commune aliases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Former communes (déléguées, associées) by name, so that postal code + an old name still finds
the commune that absorbed them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commune_alias",
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("search_name", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_code"],
            ["commune.code"],
            name=op.f("fk_commune_alias_commune_code_commune"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("commune_code", "search_name", name=op.f("pk_commune_alias")),
    )


def downgrade() -> None:
    op.drop_table("commune_alias")
