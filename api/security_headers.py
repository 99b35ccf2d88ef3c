"""Security headers on every answer (the application's before-send hook).

Every answer: `X-Content-Type-Options: nosniff`, a `Referrer-Policy`, and HSTS when it went over
HTTPS (no `Server` header: `mandat serve` turns uvicorn's off). Every HTML page: a content
security policy that runs only Mandat's own scripts and may not be framed (`frame-ancestors
'none'`, and `X-Frame-Options: DENY` for old browsers) — except a page that sets its own
policy: the estimation form, which partners embed. The API docs (Swagger UI, which runs inline
code) keep only the framing ban.
"""

from __future__ import annotations

from litestar.types import Message, Scope

PAGE_POLICY = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    b"frame-ancestors 'none'"
)
HSTS = b"max-age=31536000; includeSubDomains"


async def security_headers(message: Message, scope: Scope) -> None:
    """The application's before-send hook: every answer of the application gets them, also the
    404 and 405 of a path no route serves, which the routes' middlewares never see."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", []))
    present = {name.lower() for name, _ in headers}
    wanted = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]
    if scope.get("scheme") == "https":
        wanted.append((b"strict-transport-security", HSTS))
    html = any(
        name.lower() == b"content-type" and value.startswith(b"text/html")
        for name, value in headers
    )
    if html and b"content-security-policy" not in present:
        wanted.append((b"x-frame-options", b"DENY"))
        if not str(scope.get("path", "")).startswith("/schema"):  # the API docs: framing only
            wanted.append((b"content-security-policy", PAGE_POLICY))
    headers += [(name, value) for name, value in wanted if name not in present]
    message["headers"] = headers
