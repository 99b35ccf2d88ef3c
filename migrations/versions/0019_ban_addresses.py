"""addresses of the Base Adresse Nationale, and how precisely an estimation is placed

Revision ID: 0019
Revises: 0023
Create Date: 2026-12-02 12:00:00.000000

`mandat ban import` loads the BAN's address points (`ban_address`) and derives its streets and
lieux-dits (`ban_street`); step 1 places the property at its address point, else the centre of
its street, else the town hall, and says which (`estimation.location_precision`). pg_trgm lets
the street suggestions and the geocoder forgive a typo.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography

revision = "0019"
down_revision = "0023"
branch_labels = None
depends_on = None


def _point() -> Geography:
    return Geography(
        geometry_type="POINT", srid=4326, dimension=2, spatial_index=False,
        from_text="ST_GeogFromText", name="geography", nullable=False,
    )  # fmt: skip


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_geospatial_table(
        "ban_address",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("departement_code", sa.String(length=3), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("postal_code", sa.String(length=5), nullable=True),
        sa.Column("street_key", sa.Text(), nullable=False),
        sa.Column("lieu_dit_key", sa.Text(), nullable=True),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("rep", sa.Text(), nullable=False),
        sa.Column("location", _point(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ban_address")),
    )
    op.create_index(
        "ix_ban_address_commune_code_number", "ban_address", ["commune_code", "number"],
        unique=False,
    )  # fmt: skip
    op.create_geospatial_table(
        "ban_street",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("departement_code", sa.String(length=3), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("postal_code", sa.String(length=5), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("search_key", sa.Text(), nullable=False),
        sa.Column("addresses", sa.Integer(), nullable=False),
        sa.Column("location", _point(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ban_street")),
    )
    op.create_index(
        "ix_ban_street_commune_code_search_key", "ban_street", ["commune_code", "search_key"],
        unique=True,
    )  # fmt: skip
    # A street is looked for in the other arrondissements of the city too.
    op.create_index("ix_commune_parent_code", "commune", ["parent_code"], unique=False)
    op.create_check_constraint(
        op.f("ck_estimation_location_precision"),
        "estimation",
        "location_precision IN ('address', 'street', 'coordinates', 'town_hall')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_estimation_location_precision"), "estimation", "check")
    op.drop_index("ix_commune_parent_code", table_name="commune")
    op.drop_geospatial_table("ban_street")
    op.drop_geospatial_table("ban_address")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
