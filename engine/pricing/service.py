"""The price grid in force, and admins' new versions of it."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.errors import FieldError, RuleViolation
from engine.pricing.grid import PriceGrid, validate_grid
from engine.pricing.models import PriceGridVersion


def current_grid(session: Session) -> PriceGrid:
    row = session.execute(
        text("SELECT version, rules FROM price_grid ORDER BY version DESC LIMIT 1")
    ).one()
    return PriceGrid.from_json(row.version, row.rules)


def publish_grid(session: Session, caller: Principal, grid: PriceGrid) -> PriceGrid:
    """A new version; offers already priced keep their prices."""
    problems = validate_grid(grid)
    if problems:
        raise RuleViolation([FieldError("rules", "invalid_price_grid", p) for p in problems])
    row = PriceGridVersion(created_by=caller.key_id, rules=grid.to_json())
    session.add(row)
    session.flush()
    previous = row.version - 1
    record(session, caller, "price_grid.published", "price_grid", row.version, previous=previous)
    return PriceGrid.from_json(row.version, row.rules)
