"""A service owns its unit of work, and runs it again when PostgreSQL rolled it back because of a
concurrent one (engine.db.retried): here a real deadlock, made on demand with two connections
taking two agencies' rows in opposite orders. The service waits first, so PostgreSQL's deadlock
check fires in its backend and rolls its transaction back; the second attempt succeeds."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.db import ATTEMPTS, get_engine, is_retryable, retried, unit_of_work
from tests.helpers import add_agency

RENAME = text("UPDATE agency SET name = :name WHERE id = :id")


def _waiting_on_a_lock(pid: int) -> bool:
    with get_engine().connect() as connection:
        return bool(
            connection.execute(
                text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar()
        )


def _other_transaction(first: uuid.UUID, second: uuid.UUID, service_pid: list[int],
                       holding: threading.Event, errors: list[BaseException]) -> None:  # fmt: skip
    """Takes `second`, waits until the service waits for it, then takes `first`: a deadlock."""
    try:
        with get_engine().connect() as connection, connection.begin():
            connection.execute(RENAME, {"name": "Other B", "id": second})
            holding.set()
            deadline = time.monotonic() + 10
            while not (service_pid and _waiting_on_a_lock(service_pid[0])):
                if time.monotonic() > deadline:
                    raise TimeoutError("the service never waited for the row")
                time.sleep(0.02)
            connection.execute(RENAME, {"name": "Other A", "id": first})
    except BaseException as error:  # noqa: BLE001 - reported by the test
        errors.append(error)


def test_a_service_rolled_back_by_a_deadlock_runs_again_and_succeeds(session) -> None:
    first = add_agency(session, -1.68, 48.11, name="Agence A")
    second = add_agency(session, -1.60, 48.10, name="Agence B")
    session.commit()
    holding, attempts, service_pid, errors = threading.Event(), [], [], []
    other = threading.Thread(
        target=_other_transaction, args=(first, second, service_pid, holding, errors)
    )

    @retried
    def rename_both() -> int:
        attempts.append(1)
        with unit_of_work(alone=True) as work:
            work.execute(RENAME, {"name": "Service A", "id": first})
            if len(attempts) == 1:
                service_pid.append(work.execute(text("SELECT pg_backend_pid()")).scalar_one())
                other.start()
                holding.wait(10)
            work.execute(RENAME, {"name": "Service B", "id": second})
        return len(attempts)

    assert rename_both() == 2
    other.join(15)
    assert errors == []
    names = session.execute(
        text("SELECT name FROM agency WHERE id IN (:a, :b) ORDER BY name"),
        {"a": first, "b": second},
    ).scalars()
    assert list(names) == ["Service A", "Service B"]  # the second attempt ran last, whole


def test_a_service_gives_up_after_its_attempts_and_an_other_error_at_once() -> None:
    calls: list[int] = []

    class Deadlock(Exception):
        sqlstate = "40P01"

    @retried
    def always_deadlocked() -> None:
        calls.append(1)
        raise DBAPIError("UPDATE agency", {}, Deadlock())

    with pytest.raises(DBAPIError) as raised:
        always_deadlocked()
    assert is_retryable(raised.value)
    assert len(calls) == ATTEMPTS

    @retried
    def broken() -> None:
        calls.append(1)
        raise DBAPIError("SELECT x", {}, ValueError("undefined column"))

    calls.clear()
    with pytest.raises(DBAPIError):
        broken()
    assert calls == [1]
