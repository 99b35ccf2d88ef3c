"""Finding F17: input an attacker shapes by hand answers 4xx, never a server error."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from tests.market import buyers


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("value", ["1e300", "NaN", "Infinity", "-Infinity"])
def test_F17_a_forged_price_cursor_is_a_422(client, session, value: str) -> None:
    (agency,) = buyers(session, 1)
    cursor = _b64(f'[{value}, "{uuid.uuid4()}"]')
    answer = client.get(
        "/api/v1/leads", params={"sort": "price", "cursor": cursor}, headers=agency.headers
    )
    assert answer.status_code == 422
    assert "invalid_cursor" in json.dumps(answer.json())  # the field's code, next to its path


def test_F17_a_homeowner_token_with_non_ascii_signature_is_refused(client) -> None:
    token = _b64(f"{uuid.uuid4()}.9999999999.é")
    answer = client.get("/api/v1/me/data", params={"token": token})
    assert answer.status_code in (401, 403)
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_F17_a_session_cookie_with_non_ascii_characters_is_refused(client) -> None:
    cookie = "__Host-mandat_pro=jeton-é".encode()  # UTF-8 bytes, as a browser may send
    answer = client.get("/staff/refunds", headers={"Cookie": cookie}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/pro/login")
