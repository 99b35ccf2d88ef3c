"""The embeddable estimation form: the loader script, the form page and its assets.

The page runs only its own code (the content security policy allows scripts, styles and
requests to this origin alone), and may be framed only by the pages of the partner named by its
`source` (the embed script's `data-source`): `frame-ancestors` lists that partner's registered
origins. An unknown or missing `source` is framed by Mandat's own pages only (issue 12, F3).
"""

from __future__ import annotations

import gzip
from functools import cache
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from engine.partners.service import origins_for_form
from estimation_forms import STATIC_DIR

ASSETS = {"form.css": "text/css", "form.js": "text/javascript"}
FORM_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)


def form_policy(framing_origins: list[str]) -> str:
    """The form's policy: framed by the partner's origins, or by Mandat's own pages only."""
    ancestors = " ".join(framing_origins) or "'self'"
    return f"{FORM_POLICY}; frame-ancestors {ancestors}"


COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


# The routes below send their files gzipped once (level 9, kept in memory), never gzipped again
# per request by the application's compression.
PRECOMPRESSED = ["^/embed/estimation.js$", "^/forms/estimation$", "^/forms/static/"]


@cache
def _read(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


@cache
def _gzipped(name: str) -> bytes:
    return gzip.compress(_read(name), compresslevel=9, mtime=0)


def _file(
    request: Request[Any, Any, Any], name: str, media_type: str, headers: dict[str, str]
) -> Response[bytes]:
    """The file, gzipped when the browser takes gzip."""
    headers = {**COMMON_HEADERS, **headers, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(_gzipped(name), media_type=media_type, headers=headers)
    return Response(_read(name), media_type=media_type, headers=headers)


@get("/embed/estimation.js", include_in_schema=False)
async def embed_script(request: Request[Any, Any, Any]) -> Response[bytes]:
    """`<script src=".../embed/estimation.js" data-source="partner-slug" async>` on any site."""
    return _file(
        request, "estimation.js", "text/javascript", {"Cache-Control": "public, max-age=300"}
    )


@get("/forms/estimation", include_in_schema=False, sync_to_thread=True)
def form_page(
    request: Request[Any, Any, Any], source: FromQuery[str | None] = None
) -> Response[bytes]:
    policy = form_policy(origins_for_form(source))
    headers = {"Content-Security-Policy": policy, "Cache-Control": "no-cache"}
    return _file(request, "form.html", "text/html", headers)


@get("/forms/static/{name:str}", include_in_schema=False)
async def form_asset(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
    if name not in ASSETS:
        raise NotFoundException()
    return _file(request, name, ASSETS[name], {"Cache-Control": "public, max-age=3600"})
