"""comparable sales

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Single-dwelling sales used as comparables by the estimator (docs/rules.md §4).
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table(
        "comparable_sale",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("slice", sa.Text(), nullable=False),
        sa.Column("mutation_id", sa.Text(), nullable=False),
        sa.Column("sold_on", sa.Date(), nullable=False),
        sa.Column("property_type", sa.String(length=16), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("surface_m2", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("rooms", sa.Integer(), nullable=True),
        sa.Column("land_m2", sa.Integer(), nullable=True),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("departement_code", sa.String(length=3), nullable=False),
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
        sa.Column("located_at_town_hall", sa.Boolean(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "property_type IN ('maison', 'appartement')",
            name=op.f("ck_comparable_sale_property_type"),
        ),
        sa.CheckConstraint("price_cents > 0", name=op.f("ck_comparable_sale_price")),
        sa.CheckConstraint("surface_m2 > 0", name=op.f("ck_comparable_sale_surface")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparable_sale")),
    )
    op.create_index(
        "ix_comparable_sale_departement",
        "comparable_sale",
        ["departement_code", "property_type"],
        unique=False,
    )
    op.create_geospatial_index(
        "ix_comparable_sale_location",
        "comparable_sale",
        ["location"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_comparable_sale_slice", "comparable_sale", ["source", "slice"], unique=False
    )
    op.create_index(
        "uq_comparable_sale_source_mutation",
        "comparable_sale",
        ["source", "mutation_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_comparable_sale_source_mutation", table_name="comparable_sale")
    op.drop_index("ix_comparable_sale_slice", table_name="comparable_sale")
    op.drop_geospatial_index(
        "ix_comparable_sale_location",
        table_name="comparable_sale",
        postgresql_using="gist",
        column_name="location",
    )
    op.drop_index("ix_comparable_sale_departement", table_name="comparable_sale")
    op.drop_geospatial_table("comparable_sale")
