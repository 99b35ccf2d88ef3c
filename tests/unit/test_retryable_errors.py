"""A transaction PostgreSQL rolled back because of a concurrent one (deadlock, serialization
failure) is a 503 the client may retry, not a 500: nothing was done. The route below stands in
for the database, which cannot be made to deadlock on demand; the error is psycopg's own, as
SQLAlchemy raises it."""

from __future__ import annotations

import psycopg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from sqlalchemy.exc import OperationalError

from api.errors import EXCEPTION_HANDLERS


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (psycopg.errors.DeadlockDetected("deadlock detected"), 503, "try_again"),
        (psycopg.errors.SerializationFailure("could not serialize"), 503, "try_again"),
        (psycopg.errors.UndefinedTable('relation "x" does not exist'), 500, "internal_error"),
    ],
)
def test_a_transaction_rolled_back_by_a_concurrent_one_is_worth_retrying(
    raised: Exception, status: int, code: str
) -> None:
    @get("/buy", sync_to_thread=False)
    def buy() -> None:
        raise OperationalError("SELECT 1 FROM agency FOR NO KEY UPDATE", {}, raised)

    with TestClient(Litestar([buy], exception_handlers=EXCEPTION_HANDLERS)) as client:
        answer = client.get("/buy")

    assert answer.status_code == status
    assert answer.json()["code"] == code
    assert answer.headers.get("retry-after") == ("1" if status == 503 else None)
    assert "agency" not in answer.text
    assert str(raised) not in answer.text


@pytest.mark.parametrize(
    "raised",
    [
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"),
        psycopg.OperationalError("server closed the connection unexpectedly"),
    ],
)
def test_a_transaction_cut_by_a_failover_is_a_503_to_send_again_later(raised: Exception) -> None:
    """The primary went away (a failover, a restart) or is now a standby: 503 with a longer
    Retry-After, the time for the new primary to take writes."""

    @get("/buy", sync_to_thread=False)
    def buy() -> None:
        raise OperationalError("INSERT INTO purchase VALUES (1)", {}, raised)

    with TestClient(Litestar([buy], exception_handlers=EXCEPTION_HANDLERS)) as client:
        answer = client.get("/buy")

    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "try_again"
    assert answer.headers["retry-after"] == "2"
    assert "purchase" not in answer.text


def test_libpq_multi_host_urls_reach_sqlalchemy_as_one_host_parameter_each() -> None:
    from engine.config import sqlalchemy_url

    pair = "postgres://u:pw@db1:5432,db2:5433/mandat?target_session_attrs=read-write"
    assert sqlalchemy_url(pair) == (
        "postgresql+psycopg://u:pw@/mandat?host=db1:5432&host=db2:5433"
        "&target_session_attrs=read-write"
    )
    single = "postgresql://u:pw@127.0.0.1:54329/mandat"
    assert sqlalchemy_url(single) == "postgresql+psycopg://u:pw@127.0.0.1:54329/mandat"
