"""Alembic environment: migrations run as the schema's owner (`engine.config.owner_database_url`:
MANDAT_OWNER_DATABASE_URL, else the local cluster's superuser, else the direct DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from engine.config import owner_database_url
from engine.migrate import include_object
from engine.models import Base


def run_migrations() -> None:
    # Straight to the primary, never through a transaction pooler (a migration is one session).
    url = context.config.attributes.get("url") or owner_database_url()
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=include_object,
            process_revision_directives=alembic_helpers.writer,
            render_item=alembic_helpers.render_item,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
