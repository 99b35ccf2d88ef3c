"""The embeddable form's files as a browser receives them: small, typed, locked to their origin."""

from __future__ import annotations

FILES = [
    "/embed/estimation.js",
    "/forms/estimation",
    "/forms/static/form.css",
    "/forms/static/form.js",
]


def test_the_whole_form_weighs_under_50_kb_over_the_wire(client) -> None:
    sizes = {}
    for url in FILES:
        answer = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200
        assert answer.headers["content-encoding"] == "gzip"
        sizes[url] = int(answer.headers["content-length"])

    assert sum(sizes.values()) < 50_000, sizes


def test_the_form_page_runs_only_its_own_code_and_no_unknown_site_may_frame_it(client) -> None:
    page = client.get("/forms/estimation?source=unregistered")

    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'self'" in policy  # registered partners: tests/e2e/test_partners.py
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["content-type"].startswith("text/html")
    assert client.get("/embed/estimation.js").headers["content-type"].startswith("text/javascript")


def test_only_the_form_assets_are_served(client) -> None:
    for name in ("__init__.py", "..%2F..%2Fapi%2Fapp.py", "form.html", "estimation.js"):
        assert client.get(f"/forms/static/{name}").status_code == 404
