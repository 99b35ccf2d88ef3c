"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Response, get

from engine.migrate import applied_revision, head_revision, schema_state


@get("/healthz", sync_to_thread=False, include_in_schema=False)
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@get("/readyz", sync_to_thread=True, include_in_schema=False)
def readyz() -> Response[dict[str, Any]]:
    """The database answers and holds every migration this code needs. A schema a newer release
    has already migrated is fine (migrations keep the previous release working), so a rolling
    deploy does not turn the old instances unready."""
    try:
        current = applied_revision()
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return Response({"status": "unavailable", "database": "unreachable"}, status_code=503)
    state = schema_state(current)
    answer = {"database": "ok", "migration": current, "code_head": head_revision(), "schema": state}
    if state == "behind":
        return Response({"status": "unavailable", **answer}, status_code=503)
    return Response({"status": "ok", **answer})
