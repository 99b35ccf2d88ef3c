"""invitations and password resets; the audit log names the person who acted

Revision ID: 0014
Revises: 0013

An owner invites a collaborator by e-mail, and a person who forgot their password asks for a
reset: both are single-use links whose token is stored hashed. Actions taken in Espace Pro are
audited under the person (not an API key).
Create Date: 2026-12-02 11:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_token",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("purpose IN ('invitation', 'password_reset')", name=op.f("ck_person_token_purpose")),
        sa.CheckConstraint("expires_at > created_at", name=op.f("ck_person_token_lifetime")),
        sa.ForeignKeyConstraint(["user_id"], ["agency_user.id"], name=op.f("fk_person_token_user_id_agency_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_person_token_token_hash")),
    )  # fmt: skip
    op.create_index("ix_person_token_user", "person_token", ["user_id", "purpose"])
    op.add_column("audit_log", sa.Column("actor_user_id", sa.Uuid()))
    op.create_foreign_key(
        op.f("fk_audit_log_actor_user_id_agency_user"), "audit_log", "agency_user",
        ["actor_user_id"], ["id"],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_constraint(op.f("fk_audit_log_actor_user_id_agency_user"), "audit_log", "foreignkey")
    op.drop_column("audit_log", "actor_user_id")
    op.drop_table("person_token")
