"""Finding F15: what reaches an error message or a log line carries no personal data."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.db import unit_of_work


def test_F15_a_database_error_does_not_carry_the_statements_parameters(session) -> None:
    """An unexpected database error on step 2 is logged by the error handler with its message;
    the message must not hold the homeowner's e-mail that was bound to the statement."""
    with pytest.raises(DBAPIError) as raised, unit_of_work() as failing:
        failing.execute(
            text("SELECT 1 / 0 WHERE CAST(:email AS text) IS NOT NULL"),
            {"email": "marie.dupont@exemple.fr"},
        )
    assert "division by zero" in str(raised.value)
    assert "marie.dupont" not in str(raised.value)
