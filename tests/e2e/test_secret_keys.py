"""The secret key in the running product (issue 12 item 4, finding F1): the real processes refuse
to start without one outside development, and every token, cookie and sealed secret made with a
rolled key keeps working during its grace period, and only then."""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
import uuid
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import text

from api.pro import web
from engine import keyring
from engine.keyring import kid_of, parse_key
from tests.e2e.test_contact_confirmation import CONFIRM
from tests.e2e.test_homeowner_rights import link_token
from tests.e2e.test_pro_second_factor import enrol, give_code, next_code
from tests.e2e.test_pro_sign_in import browser
from tests.helpers import add_agency
from tests.market import buyers, offered_lead
from tests.pro import person, sign_in
from tests.processes import ROOT, process_env, served


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def roll(monkeypatch: pytest.MonkeyPatch, *previous: str) -> str:
    """A new current key; `previous` still accepted. Returns the new key."""
    key = new_key()
    monkeypatch.setenv("MANDAT_SECRET_KEY", key)
    monkeypatch.setenv("MANDAT_PREVIOUS_SECRET_KEYS", ",".join(previous))
    return key


def start(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`mandat <command>` to its end (it must refuse at once: 60 s is a hang)."""
    return subprocess.run(
        [sys.executable, "-m", "mandat.cli", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["serve", "scheduler"])
def test_F1_the_server_and_the_scheduler_refuse_to_start_without_a_real_key(
    database_url: str, command: str
) -> None:
    env = process_env(database_url)
    env.pop("MANDAT_ENV", None)
    missing = {k: v for k, v in env.items() if k != "MANDAT_SECRET_KEY"}
    weak = {**env, "MANDAT_SECRET_KEY": "mandat-secret"}

    without = start(command, missing)
    too_short = start(command, weak)

    assert without.returncode == 2
    assert "MANDAT_SECRET_KEY is not set" in without.stderr
    assert too_short.returncode == 2
    assert "at least 32" in too_short.stderr or "not base64" in too_short.stderr


def test_F1_development_starts_without_a_key(database_url: str) -> None:
    env = process_env(database_url, MANDAT_ENV="development")
    env.pop("MANDAT_SECRET_KEY")

    with served(env, "secret-keys-development", workers=1) as base:
        assert httpx.get(f"{base}/readyz").status_code == 200


def test_F1_a_homeowner_link_of_the_old_key_works_during_the_grace_period_only(
    client, session, monkeypatch: pytest.MonkeyPatch
) -> None:
    buyers(session, 1)
    offered_lead(session)
    old = monkeypatch_current(monkeypatch)
    data, confirm = link_token(session), link_token(session, "/me/confirm")

    roll(monkeypatch, old)
    in_grace = client.get(f"/api/v1/me/data?token={data}")
    monkeypatch.setenv("MANDAT_PREVIOUS_SECRET_KEYS", "")
    after = client.get(f"/api/v1/me/data?token={data}")
    confirmed_after = client.post(CONFIRM.format(confirm))

    assert in_grace.status_code == 200
    assert (after.status_code, after.json()["code"]) == (403, "invalid_token")
    assert confirmed_after.status_code == 403


def test_F1_an_espace_pro_form_token_of_the_old_key_works_during_the_grace_period_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in = SimpleNamespace(session_id=uuid.uuid4())  # what a form token is bound to
    old = monkeypatch_current(monkeypatch)
    token = web.csrf_for(signed_in)  # type: ignore[arg-type]
    assert token.split(".")[0] == kid_of(parse_key(old))

    roll(monkeypatch, old)
    in_grace = web.csrf_ok(signed_in, token)  # type: ignore[arg-type]
    other_session = web.csrf_ok(SimpleNamespace(session_id=uuid.uuid4()), token)  # type: ignore[arg-type]
    monkeypatch.setenv("MANDAT_PREVIOUS_SECRET_KEYS", "")
    after = web.csrf_ok(signed_in, token)  # type: ignore[arg-type]

    assert in_grace
    assert not other_session
    assert not after


def test_F1_a_totp_secret_sealed_before_a_roll_still_signs_in_and_is_sealed_again(
    clean_db,
    session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agency = add_agency(session, -1.68, 48.11, name="Agence du Centre")
    session.commit()
    email = person(agency)
    old = monkeypatch_current(monkeypatch)
    with browser(clean_db) as web:
        sign_in(web, email)
        secret, _ = enrol(web)

    roll(monkeypatch, old)
    with browser("") as web:
        sign_in(web, email)
        assert give_code(web, next_code(secret)).status_code == 303
    monkeypatch.setenv("MANDAT_PREVIOUS_SECRET_KEYS", "")  # the grace period ends
    sealed = session.execute(text("SELECT secret_sealed FROM person_totp")).scalar_one()

    assert bytes(sealed)[1:5].hex() == kid_of(parse_key(os_key()))
    assert keyring.open_sealed("pro:totp-seal", bytes(sealed), b"totp").decode() == secret


def monkeypatch_current(monkeypatch: pytest.MonkeyPatch) -> str:
    """The run's key, made current explicitly (so that the test can roll away from it)."""
    key = os_key()
    monkeypatch.setenv("MANDAT_SECRET_KEY", key)
    monkeypatch.setenv("MANDAT_PREVIOUS_SECRET_KEYS", "")
    return key


def os_key() -> str:
    import os

    return os.environ["MANDAT_SECRET_KEY"]
