"""geodata, agencies, api keys, settings

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Constraints that carry business rules (radius 5-50 km, SIRET format, key role scope) live here,
in the database, so that no code path can bypass them.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography, Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


SETTINGS = {
    "default_radius_km": 20,
    "min_candidates": 3,
    "max_named_agencies": 10,
    "extension_steps_km": [30, 50],
}


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "dataset_load",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dataset_load")),
    )
    op.create_table(
        "departement",
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("region_code", sa.String(length=3), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_departement")),
    )
    op.create_table(
        "setting",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_setting")),
    )
    op.create_geospatial_table(
        "commune",
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("search_name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=3), nullable=False),
        sa.Column("departement_code", sa.String(length=3), nullable=False),
        sa.Column("parent_code", sa.String(length=5), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column(
            "boundary",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "town_hall",
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
        sa.CheckConstraint("code ~ '^[0-9][0-9AB][0-9]{3}$'", name=op.f("ck_commune_insee_code")),
        sa.CheckConstraint("kind IN ('COM', 'ARM')", name=op.f("ck_commune_kind")),
        sa.ForeignKeyConstraint(
            ["departement_code"],
            ["departement.code"],
            name=op.f("fk_commune_departement_code_departement"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["commune.code"], name=op.f("fk_commune_parent_code_commune")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_commune")),
    )
    op.create_geospatial_index(
        "ix_commune_boundary",
        "commune",
        ["boundary"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_table(
        "agency",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("siret", sa.String(length=14), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column(
            "office",
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
        sa.Column("office_commune_code", sa.String(length=5), nullable=True),
        sa.Column(
            "zone_center",
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
        sa.Column("radius_m", sa.Integer(), nullable=False),
        sa.Column(
            "accepts_extended_leads", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("monthly_budget_cents", sa.BigInteger(), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("is_demo", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("siret ~ '^[0-9]{14}$'", name=op.f("ck_agency_siret_format")),
        sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f("ck_agency_status")),
        sa.CheckConstraint("length(btrim(name)) BETWEEN 1 AND 200", name=op.f("ck_agency_name")),
        sa.CheckConstraint(
            "monthly_budget_cents IS NULL OR monthly_budget_cents >= 0",
            name=op.f("ck_agency_budget"),
        ),
        sa.CheckConstraint("radius_m BETWEEN 5000 AND 50000", name=op.f("ck_agency_radius_range")),
        sa.ForeignKeyConstraint(
            ["office_commune_code"],
            ["commune.code"],
            name=op.f("fk_agency_office_commune_code_commune"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency")),
    )
    op.create_geospatial_index(
        "ix_agency_zone_center",
        "agency",
        ["zone_center"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index("uq_agency_siret", "agency", ["siret"], unique=True)
    op.create_table(
        "postal_code",
        sa.Column("postal_code", sa.String(length=5), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.CheckConstraint("postal_code ~ '^[0-9]{5}$'", name=op.f("ck_postal_code_format")),
        sa.ForeignKeyConstraint(
            ["commune_code"], ["commune.code"], name=op.f("fk_postal_code_commune_code_commune")
        ),
        sa.PrimaryKeyConstraint("postal_code", "commune_code", name=op.f("pk_postal_code")),
    )
    op.create_index("ix_postal_code_commune_code", "postal_code", ["commune_code"], unique=False)
    op.create_table(
        "agency_commune",
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_agency_commune_agency_id_agency"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["commune_code"], ["commune.code"], name=op.f("fk_agency_commune_commune_code_commune")
        ),
        sa.PrimaryKeyConstraint("agency_id", "commune_code", name=op.f("pk_agency_commune")),
    )
    op.create_index(
        "ix_agency_commune_commune_code", "agency_commune", ["commune_code"], unique=False
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=True),
        sa.Column("label", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(role IN ('admin', 'finance')) = (agency_id IS NULL)",
            name=op.f("ck_api_key_role_scope"),
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'finance', 'owner', 'buyer', 'viewer')", name=op.f("ck_api_key_role")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_api_key_agency_id_agency"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    op.create_index(op.f("ix_api_key_agency_id"), "api_key", ["agency_id"], unique=False)
    setting = sa.table("setting", sa.column("key", sa.Text), sa.column("value", postgresql.JSONB))
    op.bulk_insert(setting, [{"key": k, "value": v} for k, v in SETTINGS.items()])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_key_agency_id"), table_name="api_key")
    op.drop_table("api_key")
    op.drop_index("ix_agency_commune_commune_code", table_name="agency_commune")
    op.drop_table("agency_commune")
    op.drop_index("ix_postal_code_commune_code", table_name="postal_code")
    op.drop_table("postal_code")
    op.drop_index("uq_agency_siret", table_name="agency")
    op.drop_geospatial_index(
        "ix_agency_zone_center",
        table_name="agency",
        postgresql_using="gist",
        column_name="zone_center",
    )
    op.drop_geospatial_table("agency")
    op.drop_geospatial_index(
        "ix_commune_boundary", table_name="commune", postgresql_using="gist", column_name="boundary"
    )
    op.drop_geospatial_table("commune")
    op.drop_table("setting")
    op.drop_table("departement")
    op.drop_table("dataset_load")
