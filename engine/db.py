"""Database access: one engine per process, sessions as units of work.

The services callers use (`<area>/flows.py` and the like: the API, the pages, the command line)
open a unit of work with `unit_of_work()` and commit it; the functions below them take a
`Session` and never commit on their own, so a service or a job composes them in one
transaction (docs/adr/0003).

A request may run in a `request_scope()`: its first unit of work then continues the session (and
the transaction) a `joined_read()` began — the API key's check — so authentication and the
handler's work share one connection, one BEGIN and one COMMIT.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError
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


# Session settings (`jit = off`, `plan_cache_mode = force_generic_plan`, docs/adr/0001) are the
# database's own (`ALTER DATABASE … SET`, migration 0025), never a `SET` on a connection: behind
# a transaction-pooling proxy a `SET` would stay on a server connection other clients then share.

# What a failover or a restart does to a connection: the server ends it (57P01–57P03), it is cut
# (class 08), or it now reaches a standby (25006, read-only transaction). Each one invalidates the
# pool, so the next checkout connects afresh and libpq finds the primary (target_session_attrs).
CONNECTION_LOST = {"57P01", "57P02", "57P03", "25006"}

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


def _prepare_threshold() -> int | None:
    """Statements are prepared on the server after their first use (the matching query is hot);
    MANDAT_DB_PREPARE=0 turns this off behind a transaction-pooling proxy."""
    return None if os.environ.get("MANDAT_DB_PREPARE") == "0" else 1


class AsyncDatabase:
    """A few async psycopg connections in autocommit to the configured database, connecting as
    the engine does (same URL, hosts and prepared statements), for the statements a request runs
    on its event loop with no worker thread: the rate limiter's and a purchase's (one round trip
    each). The application opens it at start-up on its loop and closes it there (api/app.py);
    until then `opened` is False and callers take their worker-thread path (an application
    called without its start-up, as some tests do)."""

    def __init__(self, name: str = "async", size: int = 8) -> None:
        self.name, self.size = name, size
        self._pool: AsyncConnectionPool | None = None

    @property
    def opened(self) -> bool:
        return self._pool is not None

    async def open(self, wait: bool = False) -> None:
        """The pool connects in the background unless told to wait: a database that is down does
        not stop the server from starting."""
        engine = get_engine()
        args, params = engine.dialect.create_connect_args(engine.url)
        self._pool = AsyncConnectionPool(
            args[0] if args else "",
            kwargs={
                "application_name": f"mandat {self.name}",  # told apart in pg_stat_activity
                **params,
                "autocommit": True,
                "prepare_threshold": _prepare_threshold(),
            },
            min_size=1,
            max_size=self.size,
            timeout=5,
            name=self.name,
            open=False,
        )
        await self._pool.open(wait=wait)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def connections_given(self) -> int:
        """How many times a connection was asked of the pool since it opened."""
        return int(self._pool.get_stats().get("requests_num", 0)) if self._pool else 0

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        pool = self._pool
        if pool is None:
            raise RuntimeError("the async database is not open")
        try:
            async with pool.connection() as connection:
                yield connection
        except psycopg.OperationalError:
            # A failover or a restart: the broken connection is dropped on its return; the
            # others are checked now rather than each failing a later request (503 try_again).
            await pool.check()
            raise


def _new_engine(url: str) -> Engine:
    prepare = _prepare_threshold()
    # No pre-ping round trip on each checkout: a dead connection fails its first statement, that
    # request answers 503 `try_again` (api/errors.py) and the pool is emptied (below).
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        hide_parameters=True,  # errors and logs never carry a homeowner's name, e-mail or phone
        connect_args={"prepare_threshold": prepare},
    )
    event.listen(engine, "handle_error", _connection_lost)
    return engine


def _connection_lost(context: ExceptionContext) -> None:
    """Marks the errors of a failover as a lost connection: SQLAlchemy then discards this
    connection and every one the pool opened before it."""
    if is_connection_lost(context.original_exception):
        context.is_disconnect = True


def is_connection_lost(error: BaseException | None) -> bool:
    """The database went away under this transaction (failover, restart). It was rolled back,
    or, cut during its COMMIT, may have committed: either way the request may be sent again
    with the same Idempotency-Key, which replays what did commit."""
    while error is not None:
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate and (sqlstate in CONNECTION_LOST or sqlstate.startswith("08")):
            return True
        if isinstance(error, psycopg.OperationalError) and sqlstate is None:
            return True  # libpq's own: the server closed the connection, cannot connect
        error = getattr(error, "orig", None) if isinstance(error, DBAPIError) else None
    return False


# PostgreSQL rolled the transaction back because of a concurrent one and says so: serialization
# failure, deadlock. Nothing of it was done, so it may be done again.
RETRYABLE = {"40001", "40P01"}
ATTEMPTS = 3

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger(__name__)


def is_retryable(error: BaseException) -> bool:
    return _sqlstate(error) in RETRYABLE


def _sqlstate(error: BaseException) -> str | None:
    """As SQLAlchemy raises it (the driver's error in `orig`) or as psycopg does."""
    direct = getattr(error, "sqlstate", None)
    return direct if direct is not None else getattr(getattr(error, "orig", None), "sqlstate", None)


def retried(service: Callable[P, T]) -> Callable[P, T]:
    """A service whose unit of work PostgreSQL rolled back because of a concurrent one is run
    again, up to ATTEMPTS times in all, after a short random pause. Only for a service whose
    whole effect is its one unit of work (no Stripe call, no e-mail sent in between), and not
    when its unit of work would join a request's session: that transaction is aborted as a
    whole, and the request answers 503 `try_again` for its client to send again. A coroutine
    function is awaited and paused on its event loop."""
    if inspect.iscoroutinefunction(service):
        return _retried_on_loop(service)  # type: ignore[return-value]

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            scope = _SCOPE.get()
            joined = scope is not None and not scope.busy
            try:
                return service(*args, **kwargs)
            except Exception as error:
                if joined or not _again(service, error, attempt):
                    raise
                time.sleep(_pause(attempt))
        raise AssertionError("unreachable")  # the last attempt returned or raised

    return run


def _retried_on_loop(service: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    @functools.wraps(service)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await service(*args, **kwargs)
            except Exception as error:
                if not _again(service, error, attempt):
                    raise
                await asyncio.sleep(_pause(attempt))
        raise AssertionError("unreachable")

    return run


def _again(service: Callable[..., Any], error: Exception, attempt: int) -> bool:
    if attempt == ATTEMPTS or not is_retryable(error):
        return False
    log.info("%s: %s, attempt %d of %d", service.__qualname__, _sqlstate(error), attempt + 1,
             ATTEMPTS)  # fmt: skip
    return True


def driver_cursor(session: Session, row_factory: Any = None) -> psycopg.Cursor[Any]:
    """A psycopg cursor on the session's connection, inside its transaction: for a statement a
    hot path runs many times a second, prepared (`prepare=True`) and without SQLAlchemy's work
    around each execution."""
    connection: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    return connection.cursor(row_factory=row_factory) if row_factory else connection.cursor()


def _pause(attempt: int) -> float:
    return random.uniform(0.005, 0.05) * attempt


def _factory(url: str) -> sessionmaker[Session]:
    _engine(url)
    return _factories[url]


class _Scope:
    """One request's session, opened at its first use; `busy` while a unit of work holds it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.busy = False
        self._session: Session | None = None

    def session(self) -> Session:
        if self._session is None:
            self._session = _factory(self.url)()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()  # what no unit of work committed is rolled back


_SCOPE: ContextVar[_Scope | None] = ContextVar("mandat_request_scope", default=None)


@contextmanager
def request_scope(url: str | None = None) -> Iterator[None]:
    """One session for the work of one request, run in one thread: `joined_read()` and the
    first unit of work share it. Whatever was not committed when the scope ends is rolled back
    and the connection goes back to the pool."""
    scope = _Scope(url or database_url())
    token = _SCOPE.set(scope)
    try:
        yield
    finally:
        _SCOPE.reset(token)
        scope.close()


@contextmanager
def joined_read() -> Iterator[Session]:
    """A session for reads the request's next unit of work continues in the same transaction
    (in a request scope: nothing committed here); outside a scope, a unit of work of its own."""
    scope = _SCOPE.get()
    if scope is None or scope.busy:
        with unit_of_work() as session:
            yield session
        return
    yield scope.session()


@contextmanager
def unit_of_work(url: str | None = None, *, alone: bool = False) -> Iterator[Session]:
    """A session whose work is committed when the block ends normally, rolled back otherwise.
    In a request scope the outermost unit of work is the request's session (the transaction a
    `joined_read()` began); `alone`: a session and a transaction of its own in any case."""
    scope = _SCOPE.get()
    if not alone and scope is not None and not scope.busy and url in (None, scope.url):
        scope.busy = True
        try:
            with _committed(scope.session()) as session:
                yield session
        finally:
            scope.busy = False
        return
    own = _factory(url or database_url())()
    try:
        with _committed(own) as session:
            yield session
    finally:
        own.close()


@contextmanager
def _committed(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
