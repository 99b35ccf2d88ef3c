"""Interactive API docs served entirely from this server (Swagger UI from a Python package).

Litestar's render plugins load their JavaScript from public CDNs by default; Mandat runs
offline, so the Swagger UI files come from `swagger-ui-bundle-v2` and are served here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import swagger_ui_bundle
from litestar import Request
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS = "/schema/assets"
_FILES = Path(swagger_ui_bundle.swagger_ui_path)


class SwaggerFromDocument(SwaggerRenderPlugin):
    """Swagger UI that reads `/schema/openapi.json` instead of a copy inlined in its page: the
    page stays small and names no address but this server's (the document's examples do)."""

    def render_json(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return b"undefined, url: '/schema/openapi.json'"


def swagger_ui() -> SwaggerRenderPlugin:
    return SwaggerFromDocument(
        path=["/", "/swagger"],
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon="",
    )


def swagger_assets() -> Router:
    return create_static_files_router(
        path=ASSETS, directories=[_FILES], include_in_schema=False, name="swagger-assets"
    )
