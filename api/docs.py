"""Interactive API docs served entirely from this server (Swagger UI from a Python package).

Litestar's render plugins load their JavaScript from public CDNs by default; Mandat runs
offline, so the Swagger UI files come from `swagger-ui-bundle-v2` and are served here.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS = "/schema/assets"
_FILES = Path(swagger_ui_bundle.swagger_ui_path)


def swagger_ui() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
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
