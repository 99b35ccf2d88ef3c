"""The code's shape (issue 18): a route handler parses, calls one service and maps the result,
so it stays short enough to read at once."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"
ROUTE_DECORATORS = {"get", "post", "put", "patch", "delete", "route", "websocket"}
MAX_ROUTE_LINES = 25


def _decorator_name(decorator: ast.expr) -> str:
    """`get` for `@get(...)`, `@get`, `@litestar.get(...)`."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _route_handlers(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(_decorator_name(d) in ROUTE_DECORATORS for d in node.decorator_list)
    ]


def _length(handler: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from `def` to the handler's last line (its decorators not counted)."""
    assert handler.end_lineno is not None
    return handler.end_lineno - handler.lineno + 1


def test_the_api_has_route_handlers_to_measure() -> None:
    assert sum(len(_route_handlers(path)) for path in API.rglob("*.py")) > 50


def test_no_route_handler_is_longer_than_25_lines() -> None:
    too_long = [
        f"api/{path.relative_to(API)}:{handler.lineno} {handler.name} ({_length(handler)} lines)"
        for path in sorted(API.rglob("*.py"))
        for handler in _route_handlers(path)
        if _length(handler) > MAX_ROUTE_LINES
    ]

    assert too_long == [], "Route handlers longer than 25 lines: " + ", ".join(too_long)


def test_every_hook_run_around_each_request_is_a_coroutine() -> None:
    """Litestar runs a plain function given as a lifecycle hook in a worker thread: before
    every request, that was a thread hop each (README, "Catalogue polling")."""
    from api.app import create_app

    app = create_app()
    handlers = [h for route in app.routes for h in getattr(route, "route_handlers", [])]
    hooks = {
        f"{hook.__module__}.{hook.__qualname__}"
        for hook in [
            *(h.resolve_before_request() for h in handlers if hasattr(h, "resolve_before_request")),
            *(h.resolve_after_request() for h in handlers if hasattr(h, "resolve_after_request")),
            *(h.resolve_after_response() for h in handlers if hasattr(h, "resolve_after_response")),
            *app.before_send,
            *app.after_exception,
        ]
        if hook is not None and not inspect.iscoroutinefunction(hook)
    }

    assert handlers
    assert hooks == set(), "hooks run in a worker thread: " + ", ".join(sorted(hooks))
