"""Alembic environment: the URL comes from Mandat's configuration (DATABASE_URL or .mandat/)."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from engine.config import database_url
from engine.models import Base

EXTERNAL_TABLES = {"apscheduler_jobs"}


def include_object(obj, name, obj_type, reflected, compare_to):  # type: ignore[no-untyped-def]
    if obj_type == "table" and name in EXTERNAL_TABLES:
        return False
    return alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to)


def run_migrations() -> None:
    url = context.config.attributes.get("url") or database_url()
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
