"""The one place that turns errors into HTTP answers: RFC 9457 problem+json, a stable `code`.

No stack trace or internal message ever reaches a client; unexpected errors are logged here.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)

from engine.db import is_connection_lost, is_retryable
from engine.errors import (
    Conflict,
    Forbidden,
    MandatError,
    NotFound,
    PaymentRequired,
    RuleViolation,
    TooManyRequests,
    Unauthenticated,
)

log = logging.getLogger("mandat.api")
PROBLEM = "application/problem+json"

STATUS = {
    RuleViolation: 422,
    NotFound: 404,
    Conflict: 409,
    PaymentRequired: 402,
    Unauthenticated: 401,
    Forbidden: 403,
    TooManyRequests: 429,
}
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    402: "Payment required",
    413: "Content too large",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal error",
    503: "Try again",
}


def problem(status: int, code: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    body = {
        "type": f"https://mandat.example/problems/{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": 'Bearer realm="mandat"'} if status == 401 else None
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


def on_mandat_error(_: Request[Any, Any, Any], exc: MandatError) -> Response[dict[str, Any]]:
    status = next((s for kind, s in STATUS.items() if isinstance(exc, kind)), 400)
    extra: dict[str, Any] = dict(exc.extra)
    if isinstance(exc, RuleViolation):
        extra["errors"] = [
            {"path": e.path, "code": e.code, "message": e.message} for e in exc.errors
        ]
    answer = problem(status, exc.code, exc.message, **extra)
    if isinstance(exc, TooManyRequests):
        answer.headers["Retry-After"] = str(exc.retry_after_s)
    return answer


def on_validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Body or parameter that does not fit the schema: 422 with the path of each bad field."""
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        message = str(item.get("message", "Invalid value"))
        key = str(item.get("key", ""))
        path = "" if key == "data" else key.removeprefix("data.")
        code = "invalid_field"
        named = re.search(r"`([^`]+)`", message)
        if message.startswith("Object contains unknown field") and named:
            path, code = _join(path, named.group(1)), "unknown_field"
        elif message.startswith("Object missing required field") and named:
            path, code = _join(path, named.group(1)), "missing_field"
        elif message.endswith("contains a NUL character") and named:
            path, code = _join(path, named.group(1)), "invalid_characters"
        if key == "data" and message == "'data'":  # no body at all
            path, code, message = "", "missing_body", "A JSON body is required."
        errors.append({"path": path, "code": code, "message": message})
    if not errors:
        errors.append(_error_from_detail(str(exc.detail)))
    return problem(422, "validation_failed", errors[0]["message"], errors=errors)


def _error_from_detail(detail: str) -> dict[str, str]:
    missing = re.search(r"Missing required \w+ parameter '([^']+)'", detail)
    if missing:
        return {
            "path": missing.group(1),
            "code": "missing_field",
            "message": f"The parameter {missing.group(1)} is required.",
        }
    return {"path": "", "code": "invalid_body", "message": "The request is not valid."}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def on_http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, NotFoundException):
        return problem(404, "not_found", "Nothing here.")
    if isinstance(exc, MethodNotAllowedException):
        return problem(405, "method_not_allowed", "This method is not allowed here.")
    status = exc.status_code
    if status == 400:
        return problem(400, "invalid_request", "The request could not be read (is the body JSON?).")
    if status == 413:
        return problem(413, "body_too_large", "The request body is larger than this route takes.")
    if status >= 500:
        log.error("HTTP error %s: %s", status, exc.detail)
        return problem(500, "internal_error", "Something went wrong on our side.")
    return problem(status, "http_error", str(exc.detail) if exc.detail else TITLES.get(status, ""))


async def refuse_nul_characters(request: Request[Any, Any, Any]) -> None:
    """A query parameter with a NUL character is a 422, as in a body: no one types it, and
    PostgreSQL cannot compare text with it (it would be a 500 deep in a query).

    A coroutine, though it waits for nothing: Litestar runs a plain function given as a hook
    in a worker thread, and this one runs before every request."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value:
            raise RuleViolation.at(
                name, "invalid_characters", f"`{name}` contains a NUL character."
            )


def on_unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_connection_lost(exc):
        # A failover or a restart: the pool has dropped its connections and the next request
        # reaches the new primary once it accepts writes (seconds).
        log.warning("database connection lost on %s %s: %s", request.method,
                    request.url.path, getattr(exc, "orig", exc))  # fmt: skip
        answer = problem(
            503, "try_again", "The database is switching over: send the same request again "
            "in a few seconds (with the same Idempotency-Key, if any).",
        )  # fmt: skip
        answer.headers["Retry-After"] = "2"
        return answer
    if is_retryable(exc):
        # Every route may be sent again after one (a route that commits in steps resumes from
        # what is done); a service that could run again by itself already did (engine.db).
        sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
        log.warning("retryable database error %s on %s %s: %s", sqlstate, request.method,
                    request.url.path, getattr(exc, "orig", exc))  # fmt: skip
        answer = problem(
            503, "try_again", "A concurrent change got in the way: send the same request again "
            "(with the same Idempotency-Key, if any).",
        )  # fmt: skip
        answer.headers["Retry-After"] = "1"
        return answer
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal_error", "Something went wrong on our side.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    MandatError: on_mandat_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    Exception: on_unexpected_error,
}
