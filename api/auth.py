"""Bearer API keys → the calling `Principal`, as a dependency of the routes that need one."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from engine.accounts.keys import Principal, principal_of_key


def principal(request: Request[Any, Any, Any]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    presented = key.strip() if scheme.lower() == "bearer" else None
    return principal_of_key(presented)


# How a route asks for its caller: `caller: Caller`, provided by `principal`.
Caller = NamedDependency[Principal]
