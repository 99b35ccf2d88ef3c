"""agencies apply to join Mandat by themselves; staff approve or refuse

Revision ID: 0027
Revises: 0026

An agency fills in its name, SIRET, professional card number, office address and contact
person; an admin approves (the agency is created and the applicant invited as its owner) or
refuses with a reason. The contact's details are kept while the application is open and for the
retention period after the decision.
Create Date: 2026-12-02 13:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency_application",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("siret", sa.String(14), nullable=False),
        sa.Column("card_number", sa.Text(), nullable=False),
        sa.Column("street", sa.Text(), nullable=False),
        sa.Column("postal_code", sa.String(5), nullable=False),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("contact_name", sa.Text(), nullable=False),
        sa.Column("contact_email", sa.Text(), nullable=False),
        sa.Column("contact_phone", sa.Text()),
        sa.Column("lang", sa.String(2), server_default="fr", nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decided_by", sa.Uuid()),
        sa.Column("refusal_reason", sa.Text()),
        sa.Column("agency_id", sa.Uuid(), sa.ForeignKey("agency.id", ondelete="SET NULL")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_application")),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'refused')", name=op.f("ck_agency_application_status")
        ),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)", name=op.f("ck_agency_application_decided")
        ),
        sa.CheckConstraint(
            "status <> 'refused' OR length(btrim(refusal_reason)) > 0",
            name=op.f("ck_agency_application_reason"),
        ),
    )  # fmt: skip
    # One open application per SIRET at a time.
    op.create_index(
        "uq_agency_application_pending_siret", "agency_application", ["siret"], unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )  # fmt: skip
    op.create_index("ix_agency_application_status", "agency_application", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("agency_application")
