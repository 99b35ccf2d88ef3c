"""Database access: one engine per process, sessions as units of work.

Services take a `Session` and never commit on their own: the caller (a route, a command, a job)
owns the transaction through `unit_of_work()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from engine.config import database_url

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# JIT compilation costs milliseconds and never pays off on short OLTP queries. Generic plans:
# our statements are prepared after their first use and PostgreSQL would otherwise re-plan the
# matching query on every call (0.3 ms of a 0.7 ms answer); its generic plan is the same ordered
# index scan (tests/integration/test_matching_plan.py checks it). See docs/adr/0001.
SESSION_OPTIONS = "-c jit=off -c plan_cache_mode=force_generic_plan"


def get_engine(url: str | None = None) -> Engine:
    """The process's engine (one connection pool) for `url`, by default the configured one."""
    return _engine(url or database_url())


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        # Prepared statements on the server after the first use: the matching query is hot.
        connect_args={"prepare_threshold": 1, "options": SESSION_OPTIONS},
    )


@lru_cache(maxsize=4)
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(_engine(url), expire_on_commit=False)


@contextmanager
def unit_of_work(url: str | None = None) -> Iterator[Session]:
    """A session whose work is committed when the block ends normally, rolled back otherwise."""
    session = _factory(url or database_url())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
