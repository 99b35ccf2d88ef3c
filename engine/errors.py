"""The one family of business errors. `api` maps each kind to an HTTP status once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class FieldError:
    """One invalid input, located by its JSON path (e.g. `office.postal_code`)."""

    path: str
    code: str
    message: str


class MandatError(Exception):
    """Base error: a stable machine `code` and a sentence a person can read."""

    code = "error"

    def __init__(self, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra


class NotFound(MandatError):
    code = "not_found"


class Conflict(MandatError):
    code = "conflict"


class PaymentRequired(MandatError):
    code = "payment_required"


class Unauthenticated(MandatError):
    code = "unauthenticated"


class Forbidden(MandatError):
    code = "forbidden"


class TooManyRequests(MandatError):
    """A limit was reached: `retry_after_s` says when to try again."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: float, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after_s = max(1, int(retry_after_s + 0.999))


class RuleViolation(MandatError):
    """Input that breaks a rule; each `FieldError` says where."""

    code = "validation_failed"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors[0].message if errors else "invalid input")
        self.errors = errors

    @classmethod
    def at(cls, path: str, code: str, message: str) -> RuleViolation:
        return cls([FieldError(path, code, message)])
