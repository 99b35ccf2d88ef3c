"""Espace Pro's live inbox without a browser: htmx is Mandat's own pinned file, configured
without eval or inline styles; an htmx request carries its CSRF token in a header, checked by
the server; the event stream refuses a visitor without a session."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from sqlalchemy import text

from api.pro.pages import HTMX, STATIC
from tests.e2e.test_pro_buying import confirm, market  # noqa: F401 (fixture)
from tests.e2e.test_pro_sign_in import browser
from tests.pro import person, sign_in

VENDOR = Path(STATIC).parent / "vendor"


def test_htmx_is_the_pinned_file_served_for_a_year(client) -> None:
    pinned = json.loads((VENDOR / "package.json").read_text())["dependencies"]["htmx.org"]
    lock = json.loads((VENDOR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/htmx.org"]["version"] == pinned
    assert lock["packages"]["node_modules/htmx.org"]["integrity"].startswith("sha512-")
    assert f"htmx-{pinned}.min.js" == HTMX
    recorded, name = (VENDOR / "htmx.sha256").read_text().split()
    assert name == HTMX
    assert hashlib.sha256((STATIC / HTMX).read_bytes()).hexdigest() == recorded

    served = client.get(f"/pro/static/{HTMX}")

    assert served.status_code == 200
    assert served.content == (STATIC / HTMX).read_bytes()
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["content-type"].startswith("text/javascript")


def test_the_inbox_loads_htmx_without_eval_or_inline_styles(clean_db, session, market) -> None:  # noqa: F811
    mine, _, _ = market
    with browser(clean_db) as web:
        sign_in(web, person(mine.agency_id))
        page = web.get("/pro/leads")
    assert f'<script src="/pro/static/{HTMX}" defer></script>' in page.text
    config = json.loads(re.search(r"name=\"htmx-config\" content='([^']+)'", page.text)[1])  # type: ignore[index]
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["allowScriptTags"] is False
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-eval" not in policy
    token = re.search(r'<body hx-headers=\'\{"X-CSRF-Token": "([^"]+)"\}\'>', page.text)
    assert token, "every htmx request of the page carries the CSRF token"


def test_an_htmx_purchase_is_checked_by_its_header_token(clean_db, session, market) -> None:  # noqa: F811
    mine, _, lead = market
    with browser(clean_db) as web:
        sign_in(web, person(mine.agency_id))
        _, fields = confirm(web, lead)
        token = fields.pop("csrf")
        htmx = {"HX-Request": "true", "X-CSRF-Token": token}

        refused = web.post(f"/pro/leads/{lead}/buy", data=fields, headers={"HX-Request": "true"})
        forged = web.post(
            f"/pro/leads/{lead}/buy", data=fields, headers={**htmx, "X-CSRF-Token": "0" * 64}
        )
        assert refused.status_code == forged.status_code == 403
        assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 0

        bought = web.post(
            f"/pro/leads/{lead}/buy", data=fields, headers=htmx, follow_redirects=False
        )

        assert bought.status_code == 200
        purchase = session.execute(text("SELECT id FROM purchase")).scalar_one()
        assert bought.headers["hx-redirect"] == f"/pro/contacts/{purchase}?bought=1"


def test_the_stream_refuses_a_visitor_without_a_session(client) -> None:
    answer = client.get("/pro/leads/stream")
    assert answer.status_code == 401
