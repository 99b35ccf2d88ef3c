"""Headless Chromium (the operating system's package, driven by Playwright) against a live
server, with a partner's page on another origin that embeds the form with one script tag."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("MANDAT_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


class PartnerPages(BaseHTTPRequestHandler):
    """A partner's page at `/<slug>`: it embeds the form with one script tag, `data-source` the
    slug. Its host CSS tries hard to leak into the form."""

    form_base = ""

    def do_GET(self) -> None:
        slug = self.path.strip("/").split("?")[0] or "immo-partenaire"
        page = f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Immo Partenaire</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body {{ font: 20px Georgia, serif; color: #400; margin: 0 8px; }}
input, button, label {{ font-size: 40px !important; color: red !important; }}</style></head>
<body><h1>Immo Partenaire</h1><p>Estimez votre bien gratuitement :</p>
<script src="{self.form_base}/embed/estimation.js" data-source="{slug}" async></script>
<p>Pied de page du partenaire.</p></body></html>""".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *_: Any) -> None:
        pass


def serve_partner_pages(form_base: str, host: str) -> Iterator[str]:
    """Partner pages on `host` (another origin than the form's), until the generator closes."""
    handler = type("Pages", (PartnerPages,), {"form_base": form_base})
    server = ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{'localhost' if host == '127.0.0.1' else host}:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def partner_origin(live_server: str) -> Iterator[str]:
    """The origin of a partner's site (`localhost`, another port than the form's)."""
    yield from serve_partner_pages(live_server, "127.0.0.1")


@pytest.fixture
def partner_site(partner_origin: str, clean_db: str) -> str:
    """The page of the partner `immo-partenaire`, registered with its origin, embedding the
    form."""
    register_partner(clean_db, "immo-partenaire", [partner_origin])
    return f"{partner_origin}/immo-partenaire"


def register_partner(database_url: str, slug: str, origins: list[str]) -> None:
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO partner (slug, name, allowed_origins) VALUES (%s, %s, %s)"
            " ON CONFLICT (slug) DO UPDATE SET allowed_origins = excluded.allowed_origins",
            (slug, slug.replace("-", " ").title(), origins),
        )


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Any:
    """`shots(page, "step-1")` keeps a full-page screenshot as a test artefact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def serious_accessibility_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page (or frame) given."""
    # Evaluated through the DevTools protocol, not as a <script>: the page's content security
    # policy (scripts from Mandat only) stays on while axe runs.
    page.evaluate(f"(() => {{ {AXE.read_text()}\n; return true; }})()")
    # Only the violations in full (passes and the rest come one node each): the same findings,
    # in a fraction of the time.
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def pro_site(live_server: str) -> str:
    """The server as `localhost`: a secure context for Chromium, which keeps the production
    session cookie (Secure, __Host-) over plain HTTP there, as it would over HTTPS."""
    return live_server.replace("127.0.0.1", "localhost")
