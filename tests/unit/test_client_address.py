"""Which address the bot checks count: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import pytest
from litestar import Request

from api.client import client_ip


def request_from(peer: str, forwarded: str | None = None) -> Request:  # type: ignore[type-arg]
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return Request({"type": "http", "client": (peer, 50000), "headers": headers})  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        ("", "203.0.113.9", "198.51.100.1", "203.0.113.9"),  # nobody trusted: header ignored
        ("10.0.0.0/8", "203.0.113.9", "198.51.100.1", "203.0.113.9"),  # peer not a proxy
        ("10.0.0.0/8", "10.1.2.3", "198.51.100.1", "198.51.100.1"),
        # A client may send its own header: only the hop the proxy appended counts.
        ("10.0.0.0/8", "10.1.2.3", "1.1.1.1, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.0/8, 192.0.2.1", "10.1.2.3", "198.51.100.1, 192.0.2.1", "198.51.100.1"),
        ("10.0.0.0/8", "10.1.2.3", "garbage", "10.1.2.3"),
        ("10.0.0.0/8", "10.1.2.3", None, "10.1.2.3"),
        ("::1", "::1", "2001:db8::7", "2001:db8::7"),
    ],
)
def test_the_client_address(monkeypatch, trusted, peer, forwarded, expected) -> None:
    monkeypatch.setenv("MANDAT_TRUSTED_PROXIES", trusted)

    assert client_ip(request_from(peer, forwarded)) == expected
