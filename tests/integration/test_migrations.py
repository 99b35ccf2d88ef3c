"""The migrations go up, down to nothing and up again on real PostGIS, and match the models."""

from __future__ import annotations

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool

from engine.migrate import alembic_config, downgrade, head_revision, include_object, upgrade
from engine.models import Base


def _scratch(database_url: str) -> str:
    plain = database_url.replace("+psycopg", "")
    base, _, name = plain.rpartition("/")
    scratch = f"{name}_migrations"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{scratch}"')
    return database_url.rsplit("/", 1)[0] + "/" + scratch


def tables(url: str) -> set[str]:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows} - {"spatial_ref_sys"}


def test_migrations_upgrade_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    url = _scratch(database_url)

    upgrade(url)
    after_first = tables(url)
    downgrade(url, "base")
    after_down = tables(url)
    upgrade(url)

    assert {"agency", "commune", "postal_code", "api_key", "setting"} <= after_first
    assert after_down == {"alembic_version"}
    assert tables(url) == after_first


def test_the_schema_at_head_is_exactly_what_the_models_describe(database_url: str) -> None:
    engine = create_engine(database_url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        differences = compare_metadata(context, Base.metadata)

    assert differences == []
    assert alembic_config().get_main_option("script_location")
    assert head_revision() is not None
