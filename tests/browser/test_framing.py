"""Who may frame the form (issue 12, F3), in Chromium: a partner's registered origin shows it; a
page on any other origin, or one naming no registered partner, gets an empty frame instead."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import register_partner, serve_partner_pages


@pytest.fixture(scope="module")
def elsewhere(live_server: str) -> Iterator[str]:
    """Partner pages on a second loopback address: an origin of its own (127.0.0.2)."""
    yield from serve_partner_pages(live_server, "127.0.0.2")


SELF = "'self'"


def form_in(page: Any, wait_s: float = 6) -> Any:
    """The form's frame once the form has rendered in it, or None."""
    page.wait_for_selector("iframe")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            if frame is page.main_frame:
                continue
            try:
                if frame.query_selector("#estimate-submit"):
                    return frame
            except PlaywrightError:
                continue  # an error page's frame may vanish while it is read
        time.sleep(0.2)
    return None


def blocked(page: Any) -> list[str]:
    return [m for m in page.messages if "frame-ancestors" in m]


def open_partner_page(browser: Any, url: str) -> Any:
    page = browser.new_page()
    page.messages = []
    page.on("console", lambda message: page.messages.append(message.text))
    page.goto(url)
    return page


def test_F3_chromium_refuses_to_render_the_form_framed_by_an_unregistered_origin(
    browser, live_server, clean_db, elsewhere, partner_origin
) -> None:
    register_partner(clean_db, "immo-partenaire", [partner_origin])  # localhost only

    for slug in ("immo-partenaire", "unknown-partner"):
        page = open_partner_page(browser, f"{elsewhere}/{slug}")

        assert form_in(page) is None, slug
        assert page.eval_on_selector("iframe", "f => f.src").startswith(
            f"{live_server}/forms/estimation?source={slug}"
        )
        assert [f.url for f in page.frames][1:] == ["chrome-error://chromewebdata/"]
        expected = f"frame-ancestors {partner_origin if slug == 'immo-partenaire' else SELF}"
        assert [m for m in blocked(page) if "has been blocked" in m and expected in m], (
            page.messages
        )
        page.close()


def test_F3_the_form_renders_for_a_registered_partner_origin(
    browser, live_server, clean_db, elsewhere
) -> None:
    register_partner(clean_db, "agence-voisine", [elsewhere])

    page = open_partner_page(browser, f"{elsewhere}/agence-voisine")

    form = form_in(page, wait_s=15)
    assert form is not None
    assert form.evaluate("() => location.ancestorOrigins[0]") == elsewhere
    assert blocked(page) == []
    page.close()
