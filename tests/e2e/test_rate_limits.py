"""F4 and F6: the rate limits hold across server processes, answer 429 with Retry-After, count
each client behind a trusted proxy on its own (an IPv6 client by its /64), cap request bodies,
and throttle wrong API-key secrets under a known prefix before argon2 runs."""

from __future__ import annotations

from itertools import cycle
from typing import Any

import httpx
from sqlalchemy import text

from api.limits import LIMITS, configured
from engine.accounts.authentication import FAILURE_BURST
from tests.conftest import issue_key
from tests.helpers import add_agency
from tests.processes import process_env, served

STEP1 = {
    "property": {"type": "maison", "surface_m2": 90, "rooms": 4},
    "address": {"postal_code": "35000", "city": "Rennes"},
}


def post_step1(base: str, ip: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/estimations", json=STEP1, headers={"X-Forwarded-For": ip}, timeout=30
    )


def test_F4_rate_limits_hold_in_total_across_two_server_processes(database_url, session) -> None:
    add_agency(session, -1.68, 48.11)
    session.commit()
    # Small buckets that hardly refill during the test: 5 step 1 per client; 8 reads overall.
    env = process_env(
        database_url, MANDAT_RATE_LIMITS="step1=5/0.001,public=100/1,public.all=8/0.001"
    )
    with served(env, "limits-a", workers=1) as a, served(env, "limits-b", workers=1) as b:
        servers = cycle([a, b])
        # One homeowner's address, its requests spread over both processes: 5 in all pass.
        answers = [post_step1(next(servers), "203.0.113.7") for _ in range(10)]
        assert [r.status_code for r in answers] == [201] * 5 + [429] * 5
        refused = answers[-1]
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "too_many_requests"
        assert int(refused.headers["Retry-After"]) >= 1
        # The form's other users behind the same trusted proxy are counted on their own ...
        assert post_step1(a, "203.0.113.8").status_code == 201
        assert post_step1(b, "2001:db8:1:2::10").status_code == 201
        # ... but an IPv6 client is its /64: another address of the same network is limited.
        for n in range(4):
            assert post_step1(next(servers), f"2001:db8:1:2::{n + 20:x}").status_code == 201
        assert post_step1(a, "2001:db8:1:2::ffff").status_code == 429
        assert post_step1(b, "2001:db8:1:3::1").status_code == 201
        # The overall bucket: 8 reads in all, whoever asks, whichever process answers.
        reads = [
            httpx.get(f"{next(servers)}/api/v1/communes", params={"postal_code": "35000"},
                      headers={"X-Forwarded-For": f"198.51.100.{n}"}, timeout=30).status_code
            for n in range(12)
        ]  # fmt: skip
        assert reads == [200] * 8 + [429] * 4
    buckets = session.execute(
        text("SELECT count(*) FROM rate_bucket WHERE key LIKE 'limit:step1:%'")
    ).scalar_one()
    assert buckets == 5  # four clients (a /64 is one) and the overall bucket


def test_F4_a_body_over_64_kb_is_refused_with_413(client) -> None:
    padded: dict[str, Any] = {**STEP1, "source": "x" * (65 * 1024)}
    answer = client.post("/api/v1/estimations", json=padded)
    assert answer.status_code == 413
    assert answer.json()["code"] == "body_too_large"
    # Stripe's webhook takes larger events (it checks their signature after): not a 413.
    big = client.post("/webhooks/stripe", content=b"{" + b" " * (200 * 1024) + b"}")
    assert big.status_code == 400


def test_F4_the_homeowner_link_is_limited_per_client(client) -> None:
    mine, _ = LIMITS["me"]
    statuses = [
        client.get("/api/v1/me/data", params={"token": "not-a-token-at-all"}).status_code
        for _ in range(int(mine.burst) + 1)
    ]
    assert statuses[:-1] == [403] * int(mine.burst)
    assert statuses[-1] == 429


def test_F4_rate_limit_sizes_are_resized_or_turned_off_by_the_environment() -> None:
    resized = configured("step1=3/0.5, step2.all=7/2")
    assert resized is not None
    assert (resized["step1"][0].burst, resized["step1"][0].per_second) == (3, 0.5)
    assert resized["step2"][1].burst == 7
    assert resized["me"] == LIMITS["me"]
    assert configured("off") is None


def test_F6_wrong_secrets_under_a_known_prefix_are_throttled_before_argon2(
    client, admin_headers
) -> None:
    settings = "/api/v1/settings"
    assert client.get(settings, headers=admin_headers).status_code == 200  # verified, remembered
    prefix = admin_headers["Authorization"].split("_")[1]
    wrong = {"Authorization": f"Bearer mdt_{prefix}_{'x' * 43}"}
    statuses = [client.get(settings, headers=wrong).status_code for _ in range(FAILURE_BURST + 2)]
    assert statuses == [401] * FAILURE_BURST + [429, 429]
    refused = client.get(settings, headers=wrong)
    assert refused.json()["code"] == "too_many_failures"
    assert int(refused.headers["Retry-After"]) >= 1
    # The key's holder, verified a moment ago, is not locked out by the flood.
    assert client.get(settings, headers=admin_headers).status_code == 200


def test_F6_argon2_runs_after_the_key_row_gave_its_connection_back(
    client, session, monkeypatch
) -> None:
    from argon2 import PasswordHasher

    from engine.accounts import authentication, key_hashes
    from engine.db import get_engine

    key = issue_key("admin")  # stored as argon2 hashed keys were before the HMAC scheme
    session.execute(
        text("UPDATE api_key SET secret_hash = :h WHERE prefix = :p"),
        {"h": PasswordHasher().hash(key.split("_", 2)[2]), "p": key.split("_")[1]},
    )
    session.commit()
    checked_out: list[int] = []
    hasher = key_hashes._HASHER

    class Watched:
        def verify(self, secret_hash: str, secret: str) -> bool:
            checked_out.append(get_engine().pool.checkedout())  # type: ignore[attr-defined]
            return hasher.verify(secret_hash, secret)

    monkeypatch.setattr(key_hashes, "_HASHER", Watched())
    assert authentication.principal_of_key(key).role == "admin"
    assert checked_out == [0]
