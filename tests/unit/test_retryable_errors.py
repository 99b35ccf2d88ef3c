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
