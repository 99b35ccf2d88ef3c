"""retention of outbox rows, lead-less estimations, Stripe payloads and client addresses

Revision ID: 0017
Revises: 0016

Personal data kept no longer than needed (docs/rules.md §9): sent or abandoned outbox messages,
estimations that never became a lead, Stripe event payloads once reconciliation no longer looks
at them, and the client address and browser of each lead once the bot checks are done. A Stripe
event keeps its id (a replay is still refused), its payload is emptied: the column becomes
nullable.
Create Date: 2026-12-03 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


SETTINGS = {
    "retention_outbox_days": 30,
    "retention_estimation_hours": 72,
    "retention_stripe_event_days": 35,
    "retention_client_address_hours": 24,
}


def upgrade() -> None:
    setting = sa.table("setting", sa.column("key", sa.Text), sa.column("value", postgresql.JSONB))
    op.bulk_insert(setting, [{"key": k, "value": v} for k, v in SETTINGS.items()])
    op.alter_column("stripe_event", "payload", nullable=True)


def downgrade() -> None:
    op.execute("UPDATE stripe_event SET payload = '{}' WHERE payload IS NULL")
    op.alter_column("stripe_event", "payload", nullable=False)
    op.execute(f"DELETE FROM setting WHERE key IN {tuple(SETTINGS)!r}")
