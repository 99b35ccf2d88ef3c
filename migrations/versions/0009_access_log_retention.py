"""access log and idempotency key retention

Revision ID: 0009
Revises: 0008

The retention periods of the access-log files and of the purchases' idempotency keys (whose
stored answers hold the contact), settings like the other periods.
Create Date: 2026-11-26 10:10:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


SETTINGS = {"retention_access_log_days": 365, "retention_idempotency_key_hours": 24}


def upgrade() -> None:
    setting = sa.table("setting", sa.column("key", sa.Text), sa.column("value", postgresql.JSONB))
    op.bulk_insert(setting, [{"key": k, "value": v} for k, v in SETTINGS.items()])


def downgrade() -> None:
    op.execute(f"DELETE FROM setting WHERE key IN {tuple(SETTINGS)!r}")
