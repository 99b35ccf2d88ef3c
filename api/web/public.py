"""What the public pages share (the homeowner's private page, the legal pages, transparency): the
reader's language, one layout (`public/base.html`, its footer linking the legal notice and the
privacy policy), its stylesheet, and the CSRF token of the homeowner's forms.

The homeowner's forms have no session to bind a token to: their key is the private link's token.
Their CSRF token is a double submit bound to that link: a random cookie (`mandat_me`, HttpOnly,
SameSite=Lax) set when the page is shown, and in the form an HMAC (a sub-key of
MANDAT_SECRET_KEY) of that cookie and the link's token. A page of another site can neither
read the cookie nor make the HMAC, and its cross-site POST carries no Lax cookie; a form token
made for one link is worthless for another. (Whoever holds the link could act anyway: the
token is the key, by design.)
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.datastructures import Cookie
from litestar.params import FromPath
from litestar.response import Template

from api.pro import i18n
from api.pro.web import cookie, development
from engine import keyring
from engine.errors import NotFound

STATIC = Path(__file__).parent / "static"
ASSETS = {"public.css": "text/css; charset=utf-8"}
NO_STORE = {"Cache-Control": "no-store"}


def mecookie() -> str:
    return "mandat_me" if development() else "__Host-mandat_me"


def lang_of(request: Request[Any, Any, Any]) -> str:
    return i18n.choose_lang(
        request.query_params.get("lang"),
        request.cookies.get(i18n.LANG_COOKIE),
        request.headers.get("accept-language"),
        None,
    )


def page(
    request: Request[Any, Any, Any],
    name: str,
    status: int = 200,
    here: str | None = None,
    private: bool = False,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Template:
    """A public page in the reader's language. `here` is the address that shows this page again
    (the language switch goes there); `private` pages are never cached nor indexed."""
    lang = lang_of(request)
    jar = list(cookies or [])
    if request.query_params.get("lang") in i18n.LANGS:  # a choice made: remembered for a year
        jar.append(cookie(i18n.LANG_COOKIE, lang, 365 * 86400))
    return Template(
        template_name=f"public/{name}",
        context={
            "lang": lang,
            "path": request.url.path,
            "here": here or request.url.path,
            "switch": switch_to(here or request.url.path, "en" if lang == "fr" else "fr"),
            "private": private,
            **context,
        },
        status_code=status,
        headers=NO_STORE if private else {"Cache-Control": "no-cache"},
        cookies=jar,
    )


def switch_to(here: str, lang: str) -> str:
    return f"{here}{'&' if '?' in here else '?'}{urlencode({'lang': lang})}"


def _message(browser: str, token: str) -> str:
    return f"me-csrf:{browser}:{token}"


def me_form_token(request: Request[Any, Any, Any], token: str) -> tuple[str, list[Cookie]]:
    """The CSRF token of the homeowner's forms on this page, and the cookie to set if new."""
    browser = request.cookies.get(mecookie()) or ""
    if 20 <= len(browser) <= 64:
        return keyring.sign("homeowner:form", _message(browser, token)), []
    browser = secrets.token_urlsafe(24)
    return keyring.sign("homeowner:form", _message(browser, token)), [
        cookie(mecookie(), browser, None)
    ]


def me_form_ok(request: Request[Any, Any, Any], token: str, csrf: str) -> bool:
    browser = request.cookies.get(mecookie())
    # A hand-made form with other characters is simply not valid (never an error); a token
    # signed with a previous key is still good during its grace period.
    return bool(browser and csrf) and keyring.verify(
        "homeowner:form", _message(browser or "", token), csrf
    )


@get("/static/{name:str}", include_in_schema=False)
async def public_static(name: FromPath[str]) -> Response[bytes]:
    if name not in ASSETS:
        raise NotFound("No such file.", code="not_found")
    return Response(
        (STATIC / name).read_bytes(),
        media_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )
