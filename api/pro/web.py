"""What every Espace Pro page shares: the session cookie, the signed-in person, CSRF tokens, the
page's language, and rendering.

The cookie holds only the session's opaque token: `__Host-mandat_pro`, Secure, HttpOnly,
SameSite=Lax, path /. With MANDAT_ENV=development (plain HTTP on this machine) it is
`mandat_pro` without Secure, since a browser keeps no Secure cookie over plain HTTP.
A form's CSRF token is an HMAC of the session's id (or, before sign-in, of a random pre-session
cookie), with a sub-key for this purpose and the signing key's id (`engine.keyring`): a page of
another site can neither read it nor guess it.
"""

from __future__ import annotations

import os
import secrets
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from msgspec import Struct

from api.client import client_ip
from api.pro import i18n
from engine import keyring
from engine.people import service
from engine.people.passkeys import RelyingParty
from engine.people.sessions import ABSOLUTE, PENDING, SignedIn, StaffSignedIn

# Framing, sniffing and referrer headers come with every page (api/security_headers.py).
NO_STORE = {"Cache-Control": "no-store"}

T = TypeVar("T")
# A page's form body, as browsers send it.
FormOf = Annotated[T, Body(media_type=RequestEncodingType.URL_ENCODED)]


class CsrfForm(Struct):
    """A form whose only field is its CSRF token (sign out, remove, end a session…)."""

    csrf: str = ""


def development() -> bool:
    return os.environ.get("MANDAT_ENV") == "development"


def session_cookie() -> str:
    return "mandat_pro" if development() else "__Host-mandat_pro"


def pre_cookie() -> str:
    return "mandat_pro_pre" if development() else "__Host-mandat_pro_pre"


def cookie(name: str, value: str, max_age: int | None) -> Cookie:
    """Every cookie Mandat's pages set: HttpOnly, SameSite=Lax, path /, Secure outside
    development."""
    return Cookie(
        key=name,
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=not development(),
    )


def token_of(request: Request[Any, Any, Any]) -> str | None:
    return request.cookies.get(session_cookie())


def person_of(request: Request[Any, Any, Any]) -> SignedIn | None:
    return service.current(token_of(request))


def csrf_for(person: SignedIn | StaffSignedIn) -> str:
    return keyring.sign("pro:csrf", str(person.session_id))


def csrf_ok(person: SignedIn | StaffSignedIn, token: str | None) -> bool:
    return bool(token) and keyring.verify("pro:csrf", str(person.session_id), token or "")


def pre_session(request: Request[Any, Any, Any]) -> tuple[str, bool]:
    """The random value that binds the sign-in form's CSRF token; (value, newly made)."""
    value = request.cookies.get(pre_cookie())
    if value and 20 <= len(value) <= 64:
        return value, False
    return secrets.token_urlsafe(24), True


def pre_csrf(value: str) -> str:
    return keyring.sign("pro:pre-csrf", value)


def pre_csrf_ok(request: Request[Any, Any, Any], token: str | None) -> bool:
    value = request.cookies.get(pre_cookie())
    return bool(value and token) and keyring.verify("pro:pre-csrf", value or "", token or "")


def relying_party(request: Request[Any, Any, Any]) -> RelyingParty:
    """Passkeys belong to the site's public address (MANDAT_PUBLIC_URL); without one configured
    (development, tests), to the address this request came to."""
    configured = os.environ.get("MANDAT_PUBLIC_URL")
    origin = (
        configured.rstrip("/") if configured else f"{request.url.scheme}://{request.url.netloc}"
    )
    return RelyingParty(urlsplit(origin).hostname or "localhost", origin)


def header_csrf_ok(request: Request[Any, Any, Any], person: SignedIn | None) -> bool:
    """A script's request (passkeys) carries its page's CSRF token in X-CSRF-Token."""
    token = request.headers.get("x-csrf-token")
    return csrf_ok(person, token) if person else pre_csrf_ok(request, token)


def lang_of(request: Request[Any, Any, Any], person: SignedIn | StaffSignedIn | None = None) -> str:
    return i18n.choose_lang(
        request.query_params.get("lang"),
        request.cookies.get(i18n.LANG_COOKIE),
        request.headers.get("accept-language"),
        person.lang if person else None,
    )


def language(
    request: Request[Any, Any, Any],
    person: SignedIn | StaffSignedIn | None,
    cookies: list[Cookie] | None = None,
) -> tuple[str, list[Cookie]]:
    """The page's language, and the cookies to send with it: a language chosen in the URL is
    remembered for a year."""
    lang = lang_of(request, person)
    jar = list(cookies or [])
    if request.query_params.get("lang") in i18n.LANGS:
        jar.append(cookie(i18n.LANG_COOKIE, lang, 365 * 86400))
    return lang, jar


def render(
    request: Request[Any, Any, Any],
    name: str,
    person: SignedIn | None,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Template:
    lang, jar = language(request, person, cookies)
    return Template(
        template_name=f"pro/{name}",
        context={
            "lang": lang,
            "person": person,
            "csrf": csrf_for(person) if person else None,
            "path": request.url.path,
            **context,
        },
        status_code=status,
        headers=NO_STORE,
        cookies=jar,
    )


def anonymous_page(
    request: Request[Any, Any, Any], name: str, status: int = 200, **context: Any
) -> Template:
    """A page for someone not signed in (sign-in, invitation, reset): its form's CSRF token is
    bound to the pre-session cookie, made here when the browser has none."""
    pre, made = pre_session(request)
    cookies = [pre_session_cookie(pre)] if made else []
    return render(request, name, None, status, cookies, form_csrf=pre_csrf(pre), **context)


ENROL_PAGE = "/pro/account/security"
STAFF_HOME = "/staff/refunds"


def stop(request: Request[Any, Any, Any], person: SignedIn | None) -> Response[Any] | None:
    """Where a page sends someone who may not see it: not signed in → the sign-in page; in an
    agency that requires a second factor without one yet → the page that sets it up."""
    if person is None:
        if service.current_staff(token_of(request)) is not None:
            return Redirect(STAFF_HOME, status_code=303)  # Espace Pro is for agency people
        return to_sign_in(request)
    allowed = request.url.path.startswith(ENROL_PAGE) or request.url.path == "/pro/logout"
    if person.must_enrol and not allowed:
        return Redirect(ENROL_PAGE, status_code=303)
    return None


def safe_next(target: str) -> str:
    """Only a page of Espace Pro or of the staff pages: never another site (no open
    redirect)."""
    if target.startswith(("/pro/", "/staff/")) and "\\" not in target:
        return target
    return "/pro/"


def gate(request: Request[Any, Any, Any], csrf: str | None = None) -> SignedIn | Response[Any]:
    """The person a page is for, or the answer to send instead: the sign-in page, the second
    factor's set-up (`stop`), or, for a form (`csrf` given), a refusal when its token is wrong.
    A request made by htmx carries the token in X-CSRF-Token (the page's `hx-headers`): it is
    checked when the form has no token field."""
    person = person_of(request)
    blocked = stop(request, person)
    if blocked is not None or person is None:
        return blocked or to_sign_in(request)
    if csrf is not None and not csrf_ok(person, csrf or request.headers.get("x-csrf-token")):
        return render(request, "refused.html", person, 403)
    return person


def to_sign_in(request: Request[Any, Any, Any]) -> Redirect:
    """The sign-in page, coming back here afterwards."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return Redirect(f"/pro/login?next={target}", status_code=303)


def signed_in_response(response: Response[Any], token: str) -> Response[Any]:
    response.set_cookie(cookie(session_cookie(), token, int(ABSOLUTE.total_seconds())))
    response.delete_cookie(pre_cookie(), path="/")
    return response


def pending_response(response: Response[Any], token: str) -> Response[Any]:
    """Password given, second factor awaited: the pending token in the same cookie (it opens no
    page), the pre-session cookie kept for the code form's CSRF token."""
    response.set_cookie(cookie(session_cookie(), token, int(PENDING.total_seconds())))
    return response


def is_pending(request: Request[Any, Any, Any]) -> bool:
    return service.is_pending(token_of(request))


def signed_out_response(response: Response[Any]) -> Response[Any]:
    response.delete_cookie(session_cookie(), path="/")
    return response


def pre_session_cookie(value: str) -> Cookie:
    return cookie(pre_cookie(), value, None)


def ip_of(request: Request[Any, Any, Any]) -> str | None:
    return client_ip(request)
