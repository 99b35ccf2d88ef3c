"""Keyset pagination: a page of rows, and its cursor (the last row's sort value and id, opaque
and URL-safe)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from engine.errors import RuleViolation

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """A page of a keyset-paginated list; `next_cursor` is None on the last page."""

    items: list[T]
    next_cursor: str | None


MAX_SORT_VALUE = 2**53  # prices in cents and distances in metres stay far below it


def write_cursor(value: Any, last_id: uuid.UUID) -> str:
    raw = json.dumps([value.isoformat() if hasattr(value, "isoformat") else value, str(last_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def read_cursor(cursor: str, kind: type) -> tuple[Any, uuid.UUID]:
    """The (value, id) a cursor carries; `kind` is datetime or a number type. 422 otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, last_id = json.loads(raw)
        if kind is datetime:
            value = datetime.fromisoformat(value)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("not a number")
        elif not math.isfinite(value) or abs(value) > MAX_SORT_VALUE:
            raise ValueError("out of range")  # NaN, Infinity, 1e300: no sort value is that
        return value, uuid.UUID(last_id)
    except (ValueError, TypeError, binascii.Error) as error:
        raise RuleViolation.at(
            "cursor", "invalid_cursor", "This cursor is not one we gave."
        ) from error
