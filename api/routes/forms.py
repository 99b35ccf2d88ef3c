"""The embeddable estimation form: the loader script, the form page and its assets.

The page runs only its own code (the content security policy allows scripts, styles and
requests to this origin alone), and may be framed only by the pages of the partner named by its
`source` (the embed script's `data-source`): `frame-ancestors` lists that partner's registered
origins. An unknown or missing `source` is framed by Mandat's own pages only (issue 12, F3).
"""

from __future__ import annotations

from functools import cache

from litestar import Response, get
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


@cache
def _read(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


@get("/embed/estimation.js", include_in_schema=False)
async def embed_script() -> Response[bytes]:
    """`<script src=".../embed/estimation.js" data-source="partner-slug" async>` on any site."""
    return Response(
        _read("estimation.js"),
        media_type="text/javascript",
        headers={**COMMON_HEADERS, "Cache-Control": "public, max-age=300"},
    )


@get("/forms/estimation", include_in_schema=False, sync_to_thread=True)
def form_page(source: FromQuery[str | None] = None) -> Response[bytes]:
    return Response(
        _read("form.html"),
        media_type="text/html",
        headers={
            **COMMON_HEADERS,
            "Content-Security-Policy": form_policy(origins_for_form(source)),
            "Cache-Control": "no-cache",
        },
    )


@get("/forms/static/{name:str}", include_in_schema=False)
async def form_asset(name: FromPath[str]) -> Response[bytes]:
    if name not in ASSETS:
        raise NotFoundException()
    return Response(
        _read(name),
        media_type=ASSETS[name],
        headers={**COMMON_HEADERS, "Cache-Control": "public, max-age=3600"},
    )
