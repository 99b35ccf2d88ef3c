"""agency people, web sessions and shared rate buckets (Espace Pro)

Revision ID: 0013
Revises: 0012

A person of an agency signs in to Espace Pro with an e-mail and a password (argon2id); each
signed-in browser is a server-side session of which only the token's SHA-256 is stored; failed
sign-ins are counted in token buckets shared by every server process.
Create Date: 2026-12-02 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency_user",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("email_key", sa.Text(), sa.Computed("lower(email)"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("lang", sa.String(2), server_default=sa.text("'fr'"), nullable=False),
        sa.Column("password_hash", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('owner', 'buyer', 'viewer')", name=op.f("ck_agency_user_role")),
        sa.CheckConstraint("lang IN ('fr', 'en')", name=op.f("ck_agency_user_lang")),
        sa.CheckConstraint("email ~ '^[^@[:space:]]+@[^@[:space:]]+$'", name=op.f("ck_agency_user_email")),
        sa.CheckConstraint("length(btrim(name)) BETWEEN 1 AND 200", name=op.f("ck_agency_user_name")),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_agency_user_agency_id_agency"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_user")),
        sa.UniqueConstraint("email_key", name=op.f("uq_agency_user_email_key")),
    )  # fmt: skip
    op.create_index(op.f("ix_agency_user_agency_id"), "agency_user", ["agency_id"])
    op.create_table(
        "web_session",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("client_ip", postgresql.INET()),
        sa.Column("user_agent", sa.Text()),
        sa.CheckConstraint("expires_at > created_at", name=op.f("ck_web_session_lifetime")),
        sa.ForeignKeyConstraint(["user_id"], ["agency_user.id"], name=op.f("fk_web_session_user_id_agency_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_session_token_hash")),
    )  # fmt: skip
    op.create_index("ix_web_session_user", "web_session", ["user_id", "created_at"])
    op.create_table(
        "rate_bucket",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_bucket")),
    )


def downgrade() -> None:
    op.drop_table("rate_bucket")
    op.drop_table("web_session")
    op.drop_table("agency_user")
