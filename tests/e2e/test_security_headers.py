"""Security headers on every answer (issue 12, finding F14): pages may not be framed except the
estimation form, run only Mandat's scripts, and HTTPS answers carry HSTS."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.test_pro_sign_in import browser

PAGES = ["/pro/login", "/pro/forgot", "/transparency"]


@pytest.mark.parametrize("path", PAGES)
def test_F14_pages_refuse_framing_and_foreign_scripts(client, path: str) -> None:
    answer = client.get(path)

    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"]
    assert "strict-transport-security" not in answer.headers  # plain HTTP: no HSTS


def test_F14_the_estimation_form_keeps_its_own_policy_to_be_embedded(client) -> None:
    answer = client.get("/forms/estimation")

    assert "frame-ancestors" in answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" not in answer.headers["content-security-policy"]
    assert "x-frame-options" not in answer.headers


def test_F14_api_answers_are_not_sniffed_and_https_answers_carry_hsts(clean_db) -> None:
    with browser(clean_db) as https:
        answer = https.get("/api/v1/consent-text")
        page = https.get("/pro/login")

    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in answer.headers  # JSON, not a page
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")


def test_F14_the_api_docs_may_not_be_framed(client) -> None:
    answer = client.get("/schema/swagger")

    assert answer.headers["x-frame-options"] == "DENY"


def test_F14_every_answer_of_the_real_server_is_not_sniffed_nor_names_its_software(
    live_server: str,
) -> None:
    """Also the 404 of a path no route serves, which the routes' middlewares never see."""
    for path in ("/healthz", "/pro/login", "/api/v1/nothing-here", "/nothing/here"):
        answer = httpx.get(f"{live_server}{path}")

        assert answer.headers.get("x-content-type-options") == "nosniff", path
        assert answer.headers.get("referrer-policy") == "same-origin", path
        assert "server" not in answer.headers, path
