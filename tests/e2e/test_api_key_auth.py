"""API keys cost a hash lookup: a verified key is remembered for its lifetime, yet revocation
and role changes hold at the key's very next request; keys stored with argon2 are rehashed to
the HMAC scheme on their next use; wrong secrets are throttled before any hash runs; rolling the
master key locks no key out during its grace period."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, text

from engine.accounts import authentication, key_hashes
from engine.accounts.authentication import FAILURE_BURST
from engine.keyring import kid_of
from tests.conftest import issue_key
from tests.market import buyers, offered_lead

LEADS = "/api/v1/leads?limit=50"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stored_hash(session, key: str) -> str:
    return session.execute(
        text("SELECT secret_hash FROM api_key WHERE prefix = :p"), {"p": key.split("_")[1]}
    ).scalar_one()


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """Every hash the server computes to check a presented key: 'hmac' or 'argon2'."""
    ran: list[str] = []
    mac, hasher = key_hashes._mac, key_hashes._HASHER

    def counted_mac(master, key: str) -> str:
        ran.append("hmac")
        return mac(master, key)

    class CountedHasher:
        def verify(self, secret_hash: str, secret: str) -> bool:
            ran.append("argon2")
            return hasher.verify(secret_hash, secret)

    monkeypatch.setattr(key_hashes, "_mac", counted_mac)
    monkeypatch.setattr(key_hashes, "_HASHER", CountedHasher())
    return ran


def test_a_polling_key_is_hashed_once_then_remembered(client, session, hashes) -> None:
    (agency,) = buyers(session, 1)
    hashes.clear()  # the one of the key's issue
    statuses = [client.get(LEADS, headers=auth(agency.key)).status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert hashes == ["hmac"]  # the first poll only
    assert stored_hash(session, agency.key).startswith("hmac-sha256$")


def test_the_catalogue_checks_its_key_in_the_same_transaction(client, session) -> None:
    from engine.db import get_engine

    (agency,) = buyers(session, 1)
    assert client.get(LEADS, headers=auth(agency.key)).status_code == 200  # remembered
    begun: list[int] = []
    listener = lambda *_: begun.append(1)  # noqa: E731
    event.listen(get_engine(), "begin", listener)
    try:
        assert client.get(LEADS, headers=auth(agency.key)).status_code == 200
    finally:
        event.remove(get_engine(), "begin", listener)
    assert len(begun) == 1


def test_a_revoked_key_is_refused_at_its_next_request_though_remembered(client, session) -> None:
    (owner,) = buyers(session, 1, role="owner")
    buyer = issue_key("buyer", owner.agency_id)
    assert client.get(LEADS, headers=auth(buyer)).status_code == 200  # verified, remembered
    revoked = client.delete(
        f"/api/v1/agency/api-keys/{_key_id(session, buyer)}", headers=auth(owner.key)
    )
    assert revoked.status_code == 204
    refused = client.get(LEADS, headers=auth(buyer))
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_api_key"
    lead = uuid.uuid4()
    assert client.get(f"/api/v1/leads/{lead}", headers=auth(buyer)).status_code == 401
    assert client.get("/api/v1/agency", headers=auth(buyer)).status_code == 401
    # The owner's own key, remembered too, still works.
    assert client.get(LEADS, headers=auth(owner.key)).status_code == 200


def test_a_role_change_holds_at_the_keys_next_request(client, session) -> None:
    (first,) = buyers(session, 1, role="owner")
    second = issue_key("owner", first.agency_id)
    keys_page = "/api/v1/agency/api-keys"
    assert client.get(keys_page, headers=auth(second)).status_code == 200  # remembered
    changed = client.patch(
        f"{keys_page}/{_key_id(session, second)}", json={"role": "viewer"}, headers=auth(first.key)
    )
    assert changed.status_code == 200, changed.text
    refused = client.get(keys_page, headers=auth(second))
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden_role"
    assert client.get(LEADS, headers=auth(second)).status_code == 200  # a viewer still reads


def test_a_purchase_reads_its_remembered_key_in_its_own_call(client, session) -> None:
    """A key this process verified goes to the purchase unread (one connection, one call), and
    the call itself refuses it once revoked or expired, and reads its role now."""
    from engine.db import get_engine

    (owner,) = buyers(session, 1, role="owner")
    buyer, other = issue_key("buyer", owner.agency_id), issue_key("buyer", owner.agency_id)
    leads = [offered_lead(session) for _ in range(3)]

    prices = {
        lead: client.get(f"/api/v1/leads/{lead}", headers=auth(owner.key)).json()["price_cents"]
        for lead in leads
    }

    def purchase(key: str, lead: uuid.UUID) -> tuple[int, str | None]:
        answer = client.post(
            f"/api/v1/leads/{lead}/purchase",
            json={"mode": "exclusive", "price_cents": prices[lead]},
            headers=auth(key),
        )
        return answer.status_code, answer.json().get("code")

    for key in (buyer, other):
        assert client.get(LEADS, headers=auth(key)).status_code == 200  # verified, remembered
    checkouts: list[int] = []
    listener = lambda *_: checkouts.append(1)  # noqa: E731
    on_loop = client.app.state.database
    given = on_loop.connections_given()
    event.listen(get_engine().pool, "checkout", listener)
    try:
        assert purchase(buyer, leads[0]) == (201, None)
    finally:
        event.remove(get_engine().pool, "checkout", listener)
    # The purchase's call, on the event loop's connections: no key read before it, and no
    # connection of the worker threads' pool at all.
    assert on_loop.connections_given() - given == 1
    assert checkouts == []

    keys_page = f"/api/v1/agency/api-keys/{_key_id(session, buyer)}"
    lowered = client.patch(keys_page, json={"role": "viewer"}, headers=auth(owner.key))
    assert lowered.status_code == 200
    assert purchase(buyer, leads[1]) == (403, "forbidden_role")
    raised = client.patch(keys_page, json={"role": "buyer"}, headers=auth(owner.key))
    assert raised.status_code == 200
    assert purchase(buyer, leads[1]) == (201, None)

    session.execute(
        text("UPDATE api_key SET expires_at = now() WHERE prefix = :p"), {"p": buyer.split("_")[1]}
    )
    session.commit()
    assert purchase(buyer, leads[2]) == (401, "invalid_api_key")
    revoked = client.delete(
        f"/api/v1/agency/api-keys/{_key_id(session, other)}", headers=auth(owner.key)
    )
    assert revoked.status_code == 204
    assert purchase(other, leads[2]) == (401, "invalid_api_key")
    assert purchase(other[:-4] + "AAAA", leads[2]) == (401, "invalid_api_key")  # a wrong secret
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 2


def _key_id(session, key: str) -> str:
    return str(
        session.execute(
            text("SELECT id FROM api_key WHERE prefix = :p"), {"p": key.split("_")[1]}
        ).scalar_one()
    )


def test_a_key_stored_with_argon2_still_works_and_is_rehashed(client, session, hashes) -> None:
    (agency,) = buyers(session, 1)
    secret = agency.key.split("_", 2)[2]
    session.execute(
        text("UPDATE api_key SET secret_hash = :h WHERE prefix = :p"),
        {"h": PasswordHasher(time_cost=2, memory_cost=19_456).hash(secret),
         "p": agency.key.split("_")[1]},
    )  # fmt: skip
    session.commit()
    hashes.clear()
    assert client.get(LEADS, headers=auth(agency.key)).status_code == 200
    assert stored_hash(session, agency.key).startswith("hmac-sha256$")
    authentication._verified.clear()  # another process, or after a restart
    assert client.get(LEADS, headers=auth(agency.key)).status_code == 200
    assert hashes == ["argon2", "hmac", "hmac"]  # argon2 once; the rehash and the new check
    wrong = agency.key[:-4] + "AAAA"
    assert client.get(LEADS, headers=auth(wrong)).status_code == 401


@pytest.mark.parametrize("stored", ["hmac", "argon2"])
def test_a_flood_of_wrong_secrets_under_one_prefix_hashes_a_bounded_number_of_times(
    client, session, hashes, stored
) -> None:
    (agency,) = buyers(session, 1)
    prefix = agency.key.split("_")[1]
    if stored == "argon2":
        session.execute(
            text("UPDATE api_key SET secret_hash = :h WHERE prefix = :p"),
            {"h": PasswordHasher(time_cost=1, memory_cost=64).hash("x"), "p": prefix},
        )
        session.commit()
    hashes.clear()
    wrong = auth(f"mdt_{prefix}_{'x' * 43}")
    statuses = [client.get(LEADS, headers=wrong).status_code for _ in range(3 * FAILURE_BURST)]
    assert statuses == [401] * FAILURE_BURST + [429] * (2 * FAILURE_BURST)
    assert len(hashes) == FAILURE_BURST
    throttled = client.get(LEADS, headers=wrong)
    assert throttled.json()["code"] == "too_many_failures"
    assert int(throttled.headers["Retry-After"]) >= 1


def _master() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def test_rolling_the_master_key_locks_no_key_out(client, session, monkeypatch) -> None:
    old, new = _master(), _master()
    monkeypatch.setenv("MANDAT_SECRET_KEY", old)
    used, idle = buyers(session, 2)
    assert client.get(LEADS, headers=auth(used.key)).status_code == 200
    old_kid, new_kid = kid_of(base64.b64decode(old)), kid_of(base64.b64decode(new))
    assert stored_hash(session, used.key).startswith(f"hmac-sha256${old_kid}$")

    # The new key signs, the old one is kept for its grace period: both keys still work, and
    # each is rehashed with the new key's pepper at its next check.
    monkeypatch.setenv("MANDAT_SECRET_KEY", new)
    monkeypatch.setenv("MANDAT_PREVIOUS_SECRET_KEYS", old)
    authentication._verified.clear()  # a fresh process
    assert client.get(LEADS, headers=auth(used.key)).status_code == 200
    assert stored_hash(session, used.key).startswith(f"hmac-sha256${new_kid}$")
    assert stored_hash(session, idle.key).startswith(f"hmac-sha256${old_kid}$")
    pending = session.execute(
        text("SELECT count(*) FROM api_key WHERE secret_hash LIKE :h AND revoked_at IS NULL"),
        {"h": f"hmac-sha256${old_kid}$%"},
    ).scalar_one()
    assert pending == 1  # what docs/security.md tells the operator to check before the end

    # The grace period ends: the rehashed key works; one never used during it is refused.
    monkeypatch.delenv("MANDAT_PREVIOUS_SECRET_KEYS")
    authentication._verified.clear()
    assert client.get(LEADS, headers=auth(used.key)).status_code == 200
    assert client.get(LEADS, headers=auth(idle.key)).status_code == 401


def owner_key(session) -> tuple[str, str]:
    """(an agency owner's key, its agency id)."""
    (agency,) = buyers(session, 1, role="owner")
    return agency.key, str(agency.agency_id)


def test_F19_a_key_that_expired_is_refused_at_once_even_when_remembered(client, session) -> None:
    key, agency_id = owner_key(session)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = client.post(
        f"/api/v1/agencies/{agency_id}/api-keys",
        json={"role": "viewer", "label": "CRM", "expires_at": soon},
        headers=auth(key),
    )
    assert made.status_code == 201
    assert made.json()["expires_at"] is not None
    crm = made.json()["key"]
    assert client.get(LEADS, headers=auth(crm)).status_code == 200  # verified, remembered

    session.execute(
        text("UPDATE api_key SET created_at = now() - interval '2 hours',"
             " expires_at = now() - interval '1 second' WHERE id = :id"),
        {"id": made.json()["id"]},
    )  # fmt: skip
    session.commit()

    refused = client.get(LEADS, headers=auth(crm))
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_api_key"
    assert client.get(LEADS, headers=auth(key)).status_code == 200  # the owner's key lives on


@pytest.mark.parametrize(
    "expires_at",
    [
        "2020-01-01T00:00:00+00:00",  # past
        (datetime.now(UTC) + timedelta(days=800)).isoformat(),  # over two years
        (datetime.now(UTC) + timedelta(days=3)).replace(tzinfo=None).isoformat(),  # no zone
    ],
)
def test_an_expiry_in_the_past_too_far_or_without_zone_is_refused(
    client, session, expires_at
) -> None:
    key, agency_id = owner_key(session)
    refused = client.post(
        f"/api/v1/agencies/{agency_id}/api-keys",
        json={"role": "viewer", "expires_at": expires_at},
        headers=auth(key),
    )
    assert refused.status_code == 422
    assert [e["path"] for e in refused.json()["errors"]] == ["expires_at"]
    assert session.execute(text("SELECT count(*) FROM api_key")).scalar_one() == 1


def test_F19_when_a_key_was_last_used_is_shown_true_to_the_hour_without_a_write_per_request(
    client, session
) -> None:
    authentication._used.clear()
    owner, agency_id = owner_key(session)
    made = client.post(
        f"/api/v1/agencies/{agency_id}/api-keys", json={"role": "viewer"}, headers=auth(owner)
    ).json()
    row = "SELECT last_used_at FROM api_key WHERE id = :id"
    assert session.execute(text(row), {"id": made["id"]}).scalar_one() is None  # never used

    assert client.get(LEADS, headers=auth(made["key"])).status_code == 200
    first = session.execute(text(row), {"id": made["id"]}).scalar_one()
    assert first is not None
    listed = client.get("/api/v1/agency/api-keys", headers=auth(owner)).json()
    shown = next(k for k in listed if k["id"] == made["id"])
    assert datetime.fromisoformat(shown["last_used_at"]) == first

    authentication._used.clear()  # another process: the row says it was written within the hour
    assert client.get(LEADS, headers=auth(made["key"])).status_code == 200
    session.rollback()
    assert session.execute(text(row), {"id": made["id"]}).scalar_one() == first

    session.execute(
        text("UPDATE api_key SET last_used_at = now() - interval '2 hours' WHERE id = :id"),
        {"id": made["id"]},
    )
    session.commit()
    authentication._used.clear()
    assert client.get(LEADS, headers=auth(made["key"])).status_code == 200
    session.rollback()
    assert session.execute(text(row), {"id": made["id"]}).scalar_one() > first
