"""estimations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

Step 1 of the estimation form: the property, its place, the estimate and the agencies named.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table(
        "estimation",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("property_type", sa.String(length=16), nullable=False),
        sa.Column("surface_m2", sa.Numeric(precision=8, scale=2), nullable=False),
        sa.Column("property", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("postal_code", sa.String(length=5), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column(
            "location",
            Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("location_precision", sa.String(length=16), nullable=False),
        sa.Column("estimate", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("candidates", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("matching_rules", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "property_type IN ('appartement', 'maison', 'terrain', 'autre')",
            name=op.f("ck_estimation_property_type"),
        ),
        sa.CheckConstraint("surface_m2 BETWEEN 5 AND 10000", name=op.f("ck_estimation_surface")),
        sa.ForeignKeyConstraint(
            ["commune_code"], ["commune.code"], name=op.f("fk_estimation_commune_code_commune")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_estimation")),
    )


def downgrade() -> None:
    op.drop_geospatial_table("estimation")
