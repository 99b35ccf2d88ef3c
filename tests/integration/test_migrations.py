"""The migrations go up, down to nothing and up again on real PostGIS, and match the models."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from engine.migrate import alembic_config, downgrade, head_revision, include_object, upgrade
from engine.models import Base


@pytest.fixture
def scratch_url(owner_database_url: str) -> Iterator[str]:
    """An empty database next to the test database, dropped afterwards."""
    url = make_url(owner_database_url)
    scratch = url.set(database=f"{url.database}_migrations")
    admin = url.set(drivername="postgresql", database="postgres")
    admin_dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{scratch.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{scratch.database}"')
    yield scratch.render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{scratch.database}" WITH (FORCE)')


def tables(url: str) -> set[str]:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows} - {"spatial_ref_sys"}


def test_migrations_upgrade_downgrade_to_base_and_upgrade_again(scratch_url: str) -> None:
    url = scratch_url

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
