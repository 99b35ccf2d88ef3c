"""purchases made in Espace Pro name the person who bought

Revision ID: 0018
Revises: 0017

A purchase from the web is made by a person of the agency, not an API key: the purchase keeps
who bought it, as the audit log already does.
Create Date: 2026-12-02 14:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("purchase", sa.Column("bought_by_person", sa.Uuid()))
    op.create_foreign_key(
        op.f("fk_purchase_bought_by_person_agency_user"), "purchase", "agency_user",
        ["bought_by_person"], ["id"],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_constraint(op.f("fk_purchase_bought_by_person_agency_user"), "purchase", "foreignkey")
    op.drop_column("purchase", "bought_by_person")
