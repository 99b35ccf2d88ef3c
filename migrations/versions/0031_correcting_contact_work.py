"""correcting the work on a contact: edited interactions, cancelled and rescheduled appointments

Revision ID: 0031
Revises: 0036

A person corrects an interaction they logged (when is kept: `edited_at`). An appointment is
never deleted once set: cancelling it keeps it, marked `cancelled_at`, so its calendar file and
the calendar link say CANCELLED; every change of its time or its cancellation raises `sequence`
(the iCalendar SEQUENCE), so calendar applications update the event instead of adding another.
Create Date: 2026-12-02 22:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contact_interaction", sa.Column("edited_at", sa.DateTime(timezone=True)))
    op.add_column(
        "appointment",
        sa.Column("sequence", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("appointment", sa.Column("cancelled_at", sa.DateTime(timezone=True)))
    op.create_check_constraint(op.f("ck_appointment_sequence"), "appointment", "sequence >= 0")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_appointment_sequence"), "appointment", type_="check")
    op.drop_column("appointment", "cancelled_at")
    op.drop_column("appointment", "sequence")
    op.drop_column("contact_interaction", "edited_at")
