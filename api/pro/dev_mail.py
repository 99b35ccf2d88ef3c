"""`/dev/mail`: in development only (MANDAT_ENV=development), the e-mails Mandat wrote, newest
first, readable without an SMTP server. Anywhere else it does not exist (404)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException

from api.pro import web
from engine.notify.mailbox import recent_mails


@get("/dev/mail", include_in_schema=False, sync_to_thread=True)
def dev_mailbox(request: Request[Any, Any, Any]) -> Response[Any]:
    if not web.development():
        raise NotFoundException()
    return web.render(request, "dev_mail.html", None, mails=recent_mails())
