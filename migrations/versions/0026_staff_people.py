"""platform staff sign in as people, on the same sessions as agency people

Revision ID: 0026
Revises: 0018

Finance and admin staff become people without an agency (role finance or admin): they sign in
at /pro/login with e-mail and password, on the server-side session table, instead of pasting a
finance API key into a signed cookie.
Create Date: 2026-12-02 12:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("agency_user", "agency_id", existing_type=sa.Uuid(), nullable=True)
    op.drop_constraint(op.f("ck_agency_user_role"), "agency_user", "check")
    op.create_check_constraint(
        op.f("ck_agency_user_role"),
        "agency_user",
        "role IN ('owner', 'buyer', 'viewer', 'admin', 'finance')",
    )
    op.create_check_constraint(
        op.f("ck_agency_user_staff_has_no_agency"),
        "agency_user",
        "(agency_id IS NULL) = (role IN ('admin', 'finance'))",
    )


def downgrade() -> None:
    op.execute("DELETE FROM agency_user WHERE agency_id IS NULL")
    op.drop_constraint(op.f("ck_agency_user_staff_has_no_agency"), "agency_user", "check")
    op.drop_constraint(op.f("ck_agency_user_role"), "agency_user", "check")
    op.create_check_constraint(
        op.f("ck_agency_user_role"), "agency_user", "role IN ('owner', 'buyer', 'viewer')"
    )
    op.alter_column("agency_user", "agency_id", existing_type=sa.Uuid(), nullable=False)
