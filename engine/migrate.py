"""Alembic, driven from code (the `mandat migrate` command and the tests)."""

from __future__ import annotations

from functools import cache
from typing import Any

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers

from engine.config import PROJECT_ROOT


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if url:
        config.attributes["url"] = url
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


@cache
def head_revision() -> str | None:
    """The code's latest migration (read once per process: /readyz asks on every probe)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def applied_revision() -> str | None:
    """The database's migration, read on a connection of its own; raises when the database
    does not answer."""
    from sqlalchemy import text

    from engine.db import get_engine

    with get_engine().connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def schema_state(current: str | None) -> str:
    """Where the database's schema stands for this code: `at_head`; `behind` (migrations this
    code needs are not applied: not ready); or `ahead` (a newer release has migrated it: ready,
    because every migration keeps the previous release working — expand, then contract)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if current == head_revision():
        return "at_head"
    if current is None:
        return "behind"
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError:
        known = None
    return "behind" if known is not None else "ahead"


# Tables that other libraries own (APScheduler's job store): never created or dropped by us.
EXTERNAL_TABLES = {"apscheduler_jobs"}


def include_object(
    obj: Any, name: str | None, obj_type: str, reflected: bool, compare_to: Any
) -> bool:
    """What autogenerate compares: our tables, not PostGIS's nor other libraries'."""
    if obj_type == "table" and name in EXTERNAL_TABLES:
        return False
    return bool(
        alembic_helpers.include_object(  # type: ignore[no-untyped-call]
            obj, name, obj_type, reflected, compare_to
        )
    )
