"""passkeys (WebAuthn) and their ceremonies' challenges

Revision ID: 0016
Revises: 0015

A person may sign in with a passkey: its credential id, public key and signature counter are
kept; each ceremony's challenge is kept two minutes, bound to the browser that asked.
Create Date: 2026-12-02 13:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_passkey",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["user_id"], ["agency_user.id"], name=op.f("fk_person_passkey_user_id_agency_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_passkey")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_person_passkey_credential_id")),
    )  # fmt: skip
    op.create_index(op.f("ix_person_passkey_user_id"), "person_passkey", ["user_id"])
    op.create_table(
        "webauthn_challenge",
        sa.Column("binding", sa.LargeBinary(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("purpose IN ('register', 'sign_in')", name=op.f("ck_webauthn_challenge_purpose")),
        sa.PrimaryKeyConstraint("binding", name=op.f("pk_webauthn_challenge")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("webauthn_challenge")
    op.drop_table("person_passkey")
