"""api keys may expire and say when they were last used

Revision ID: 0035
Revises: 0028

Security review F19: a key lived until someone revoked it, and nothing showed a key nobody uses
any more (the ones to revoke). `expires_at` (optional, chosen when the key is issued) ends it
like a revocation; `last_used_at` is written at most once an hour per key, so polling costs no
write per request.
Create Date: 2026-12-02 22:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_key", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("api_key", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    op.create_check_constraint(
        op.f("ck_api_key_expires_after_creation"), "api_key", "expires_at > created_at"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_api_key_expires_after_creation"), "api_key")
    op.drop_column("api_key", "last_used_at")
    op.drop_column("api_key", "expires_at")
