"""an agency's webhook secret can be rotated, the previous one still signing for a day

Revision ID: 0033
Revises: 0025

Security review F19: the secret that signs an agency's webhooks could not be changed. Rotating
keeps the previous secret for 24 hours: each webhook then carries two signatures (the new
secret's and the old one's), so a receiver switches over without losing an event.
Create Date: 2026-12-02 15:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agency", sa.Column("previous_webhook_secret", sa.Text()))
    op.add_column("agency", sa.Column("previous_webhook_secret_until", sa.DateTime(timezone=True)))
    op.create_check_constraint(
        "previous_webhook_secret_ends",
        "agency",
        "(previous_webhook_secret IS NULL) = (previous_webhook_secret_until IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint("previous_webhook_secret_ends", "agency", type_="check")
    op.drop_column("agency", "previous_webhook_secret_until")
    op.drop_column("agency", "previous_webhook_secret")
