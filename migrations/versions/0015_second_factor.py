"""second factor: TOTP apps, recovery codes, pending sessions, agencies that require it

Revision ID: 0015
Revises: 0014

A person may add a TOTP app (its secret sealed, the last step accepted kept so that a code is
never accepted twice) with ten single-use recovery codes; signing in then opens a pending
session until the code is given. An owner may require a second factor for the whole agency.
Create Date: 2026-12-02 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_totp",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("last_step", sa.BigInteger()),
        sa.ForeignKeyConstraint(["user_id"], ["agency_user.id"], name=op.f("fk_person_totp_user_id_agency_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_person_totp")),
    )  # fmt: skip
    op.create_table(
        "person_recovery_code",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["user_id"], ["agency_user.id"], name=op.f("fk_person_recovery_code_user_id_agency_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_recovery_code")),
        sa.UniqueConstraint("user_id", "code_hash", name="uq_person_recovery_code"),
    )  # fmt: skip
    op.add_column(
        "web_session",
        sa.Column("pending_second_factor", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "agency",
        sa.Column("require_second_factor", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("agency", "require_second_factor")
    op.drop_column("web_session", "pending_second_factor")
    op.drop_table("person_recovery_code")
    op.drop_table("person_totp")
