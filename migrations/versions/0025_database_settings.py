"""the database carries its own session settings

Revision ID: 0025
Revises: 0024

`jit = off` and `plan_cache_mode = force_generic_plan` (docs/adr/0001) were a `SET` on each new
connection. Behind a transaction-pooling proxy (PgBouncer) a `SET` stays on one server
connection that other clients then share, so they become the database's defaults: every new
session on it starts with them, whichever client or pooler opened it.
Create Date: 2026-12-02 12:00:00.000000
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

SETTINGS = {"jit": "off", "plan_cache_mode": "force_generic_plan"}


def upgrade() -> None:
    for name, value in SETTINGS.items():
        op.execute(
            f"DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET {name} = {value}', "
            "current_database()); END $$"
        )


def downgrade() -> None:
    for name in SETTINGS:
        op.execute(
            f"DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET {name}', "
            "current_database()); END $$"
        )
