"""The legal notice and the privacy policy, French and English, printed from the live settings
(`engine.privacy.notice`): a settings change shows at once."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from api.web.public import page
from engine.privacy.notice import legal_facts


@get("/legal", sync_to_thread=True, include_in_schema=False, opt={"limit": "public"})
def legal_notice(request: Request[Any, Any, Any]) -> Template:
    return page(request, "legal.html", facts=legal_facts())


@get("/privacy", sync_to_thread=True, include_in_schema=False, opt={"limit": "public"})
def privacy_policy(request: Request[Any, Any, Any]) -> Template:
    return page(request, "privacy.html", facts=legal_facts())
