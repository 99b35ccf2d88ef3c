"""Mandat's secret keys (issue 12 item 4, finding F1): a real key is required, each purpose has
its own sub-key, and a rolled key keeps working for its grace period only."""

from __future__ import annotations

import base64
import secrets

import pytest

from engine import keyring


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(old, new): the old key in use."""
    old, new = new_key(), new_key()
    monkeypatch.setenv("MANDAT_SECRET_KEY", old)
    monkeypatch.delenv("MANDAT_PREVIOUS_SECRET_KEYS", raising=False)
    return old, new


def test_F1_a_signature_of_the_old_key_holds_during_the_grace_period_only(
    keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = keys
    signed = keyring.sign("homeowner:data", "key.1700000000")

    monkeypatch.setenv("MANDAT_SECRET_KEY", new)
    monkeypatch.setenv("MANDAT_PREVIOUS_SECRET_KEYS", old)
    in_grace = keyring.verify("homeowner:data", "key.1700000000", signed)
    fresh = keyring.sign("homeowner:data", "key.1700000000")
    monkeypatch.delenv("MANDAT_PREVIOUS_SECRET_KEYS")
    after = keyring.verify("homeowner:data", "key.1700000000", signed)

    assert in_grace
    assert not after
    assert keyring.verify("homeowner:data", "key.1700000000", fresh)
    assert fresh.split(".")[0] != signed.split(".")[0]  # a new key id


def test_F1_a_signature_for_one_purpose_is_refused_for_another(keys: tuple[str, str]) -> None:
    signed = keyring.sign("pro:csrf", "session-id")

    assert keyring.verify("pro:csrf", "session-id", signed)
    for other in ("pro:pre-csrf", "pro:totp-seal", "homeowner:data", "homeowner:not_me"):
        assert not keyring.verify(other, "session-id", signed)


def test_F1_sealed_data_opens_after_a_roll_and_names_its_key(
    keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = keys
    sealed = keyring.seal("pro:totp-seal", b"JBSWY3DPEHPK3PXP", b"totp")

    monkeypatch.setenv("MANDAT_SECRET_KEY", new)
    monkeypatch.setenv("MANDAT_PREVIOUS_SECRET_KEYS", f"{new_key()},{old}")
    opened = keyring.open_sealed("pro:totp-seal", sealed, b"totp")

    assert opened == b"JBSWY3DPEHPK3PXP"
    assert not keyring.sealed_with_current(sealed)
    with pytest.raises(keyring.CannotOpen):
        keyring.open_sealed("pro:csrf", sealed, b"totp")  # another purpose's key
    monkeypatch.delenv("MANDAT_PREVIOUS_SECRET_KEYS")
    with pytest.raises(keyring.CannotOpen):
        keyring.open_sealed("pro:totp-seal", sealed, b"totp")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "not set"),
        ("x", "not base64"),
        ("c2hvcnQ=", "holds 5 bytes: at least 32"),
        (base64.b64encode(b"0123456789abcdef").decode(), "holds 16 bytes"),
        ("not base64 at all!", "not base64"),
    ],
)
def test_F1_no_key_or_a_weak_key_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("MANDAT_SECRET_KEY", value)
    monkeypatch.delenv("MANDAT_ENV", raising=False)

    with pytest.raises(keyring.MissingSecretKey, match=says):
        keyring.check_configured()


def test_F1_keys_are_base64_in_either_alphabet_with_or_without_padding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = secrets.token_bytes(33)
    kids = set()
    for written in (
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ):
        monkeypatch.setenv("MANDAT_SECRET_KEY", written)
        kids.add(keyring.check_configured())
    assert len(kids) == 1


def test_F1_development_without_a_key_signs_with_a_local_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MANDAT_SECRET_KEY")
    monkeypatch.setenv("MANDAT_ENV", "development")
    monkeypatch.setenv("DATABASE_URL", "postgresql://mandat:pw@127.0.0.1:54329/mandat")

    signed = keyring.sign("pro:pre-csrf", "x")

    assert keyring.verify("pro:pre-csrf", "x", signed)
    assert not keyring.verify("pro:pre-csrf", "x", signed.replace(".", ".A", 1))
