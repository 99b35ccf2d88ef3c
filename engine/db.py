"""Database access: one engine per process, sessions as units of work.

The services callers use (`<area>/flows.py` and the like: the API, the pages, the command line)
open a unit of work with `unit_of_work()` and commit it; the functions below them take a
`Session` and never commit on their own, so a service or a job composes them in one
transaction (docs/adr/0003).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
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
# Set with SET on each new connection (not as startup options, which poolers refuse).
SESSION_SETTINGS = "SET jit = off; SET plan_cache_mode = force_generic_plan"

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker[Session]] = {}


def get_engine(url: str | None = None) -> Engine:
    """The process's engine (one connection pool) for `url`, by default the configured one."""
    return _engine(url or database_url())


def _engine(url: str) -> Engine:
    with _lock:
        if url not in _engines:
            _engines[url] = _new_engine(url)
            _factories[url] = sessionmaker(_engines[url], expire_on_commit=False)
        return _engines[url]


def _new_engine(url: str) -> Engine:
    # Statements are prepared on the server after their first use (the matching query is hot);
    # MANDAT_DB_PREPARE=0 turns this off behind a transaction-pooling proxy.
    prepare = None if os.environ.get("MANDAT_DB_PREPARE") == "0" else 1
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        hide_parameters=True,  # errors and logs never carry a homeowner's name, e-mail or phone
        connect_args={"prepare_threshold": prepare},
    )

    @event.listens_for(engine, "connect")
    def _session_settings(connection: Any, _: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(SESSION_SETTINGS)
        connection.commit()

    return engine


def _factory(url: str) -> sessionmaker[Session]:
    _engine(url)
    return _factories[url]


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
