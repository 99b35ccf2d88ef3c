"""The homeowner's pages over HTTP: the private page and its three actions (never on GET, always
with the page's form token), the legal pages from the live settings, transparency for people."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from api.app import create_app
from engine.intake.reference import reference_of
from tests.e2e.test_homeowner_rights import link_token
from tests.market import buyers, offered_lead


@pytest.fixture
def client(clean_db: str) -> Iterator[Any]:
    """Over HTTPS, as in production: the browser keeps the page's Secure cookie."""
    with TestClient(
        create_app(), base_url="https://mandat.test", raise_server_exceptions=False
    ) as https:
        yield https


def form_of(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the first form posting to `action`."""
    form = re.search(rf'<form method="post" action="{action}">(.*?)</form>', html, re.S)
    assert form, f"no form to {action}"
    return dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form.group(1)))


def test_the_private_page_shows_the_request_and_acts_only_on_a_confirmed_post(
    client, session
) -> None:
    a, b = buyers(session, 2, name="Agence Horizon")
    lead = offered_lead(session, consent_to=[a, b])
    token = link_token(session)

    page = client.get(f"/me?token={token}", headers={"Accept-Language": "fr-FR"})

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert reference_of(lead) in page.text
    assert "Agence Horizon" in page.text
    assert "Retirer mon accord" in page.text
    assert "Aucune agence n'a encore acheté" in page.text
    assert 'href="/privacy"' in page.text
    assert 'href="/legal"' in page.text

    withdraw = form_of(page.text, "/me/withdraw")
    asked = client.post("/me/withdraw", data=withdraw)
    assert "Oui, retirer mon accord" in asked.text  # asked once, nothing done yet
    assert (
        session.execute(
            text("SELECT count(*) FROM lead_consent WHERE withdrawn_at IS NOT NULL")
        ).scalar_one()
        == 0
    )
    done = client.post("/me/withdraw", data={**withdraw, "confirmed": "yes"})
    assert "C'est fait" in done.text
    withdrawn = (
        session.execute(text("SELECT agency_id FROM lead_consent WHERE withdrawn_at IS NOT NULL"))
        .scalars()
        .all()
    )
    assert [str(x) for x in withdrawn] == [withdraw["agency_id"]]

    download = client.post("/me/export", data=form_of(page.text, "/me/export"))
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.json()["reference"] == reference_of(lead)

    erase = form_of(page.text, "/me/erase")
    assert "Oui, tout effacer" in client.post("/me/erase", data=erase).text
    erased = client.post("/me/erase", data={**erase, "confirmed": "yes"})
    assert "Vos données sont effacées" in erased.text
    assert client.get(f"/me?token={token}").status_code == 410


def test_a_post_without_the_pages_form_token_does_nothing(client, session) -> None:
    buyers(session, 1)
    offered_lead(session)
    token = link_token(session)

    forged = client.post("/me/erase", data={"token": token, "csrf": "x" * 64, "confirmed": "yes"})
    client.get(f"/me?token={token}")  # the browser's cookie, then a hand-made token
    odd = client.post("/me/erase", data={"token": token, "csrf": "é" * 64, "confirmed": "yes"})

    assert forged.status_code == 403
    assert odd.status_code == 403
    assert client.get(f"/me?token={token}").status_code == 200  # still there


def test_a_forged_link_opens_a_page_that_says_so(client) -> None:
    page = client.get("/me?token=not-a-real-token", headers={"Accept-Language": "en"})
    assert page.status_code == 403
    assert "not valid or has expired" in page.text


def test_the_privacy_policy_prints_the_retention_in_force(client, session, admin_headers) -> None:
    before = client.get("/privacy", headers={"Accept-Language": "fr"})
    assert re.search(r'id="retention-unsold">90 jours<', before.text)

    changed = client.patch(
        "/api/v1/settings", json={"retention_unsold_days": 60}, headers=admin_headers
    )
    assert changed.status_code == 200

    after = client.get("/privacy?lang=en")
    assert re.search(r'id="retention-unsold">60 days<', after.text)
    assert "cnil.fr" in after.text
    legal = client.get("/legal")
    assert "Mandat SAS" in legal.text
    assert "Directeur de la publication" not in legal.text


def test_transparency_reads_the_same_rules_in_french_and_english(client) -> None:
    rules = client.get("/api/v1/transparency").json()
    french = client.get("/transparency", headers={"Accept-Language": "fr"})
    english = client.get("/transparency?lang=en")

    assert french.status_code == english.status_code == 200
    assert "Un exemple chiffré" in french.text
    assert "A worked example" in english.text
    assert f"{rules['selling']['exclusive_window_hours']} heures" in french.text
    assert "84,00" in french.text  # 80 € × 1.05 (four agencies), the worked example


def test_the_confirmation_mail_gives_the_reference_the_estimate_and_when_to_expect_a_call(
    session,
) -> None:
    buyers(session, 2, name="Agence Horizon")
    lead = offered_lead(session)
    body = session.execute(
        text("SELECT payload->>'text' FROM outbox WHERE event = 'homeowner.mail'")
    ).scalar_one()

    assert f"Référence de votre demande : {reference_of(lead)}" in body
    assert "Estimation :" in body
    assert "Agence Horizon, Agence Horizon" in body
    assert "pendant 24 heures" in body
    assert "jusqu'à 2 agences" in body
    assert re.search(r"https?://\S+/me\?token=\S+", body)
    assert re.search(r"https?://\S+/privacy\b", body)
    assert "/api/v1/me/data" not in body


def test_c_est_bien_moi_and_ce_n_etait_pas_moi_are_answered_by_a_button_never_by_the_link(
    client, session
) -> None:
    """Mail scanners open links: the e-mail's links open a page whose button answers."""
    (a,) = buyers(session, 1)
    confirmed_lead = offered_lead(session, consent_to=[a])
    confirm = link_token(session, "/me/confirm")
    session.execute(text("DELETE FROM outbox"))
    session.commit()
    disowned_lead = offered_lead(session, consent_to=[a])
    not_me = link_token(session, "/me/not-me")

    asking = client.get(f"/me/confirm?token={confirm}", headers={"Accept-Language": "fr-FR"})
    assert asking.status_code == 200
    assert asking.headers["cache-control"] == "no-store"
    state = "SELECT contact_confirmed_at, disowned_at FROM lead WHERE id = :l"
    assert tuple(session.execute(text(state), {"l": confirmed_lead}).one()) == (None, None)

    answered = client.post("/me/confirm", data=form_of(asking.text, "/me/confirm"))
    assert answered.status_code == 200
    assert 'id="answered"' in answered.text
    session.rollback()
    assert session.execute(text(state), {"l": confirmed_lead}).one()[0] is not None

    page = client.get(f"/me/not-me?token={not_me}")
    forged = client.post("/me/not-me", data={"token": not_me, "csrf": "forged"})
    assert forged.status_code == 403
    session.rollback()
    assert session.execute(text(state), {"l": disowned_lead}).one()[1] is None
    gone = client.post("/me/not-me", data=form_of(page.text, "/me/not-me"))
    assert 'id="answered"' in gone.text
    session.rollback()
    assert session.execute(text(state), {"l": disowned_lead}).one()[1] is not None
    withdrawn = session.execute(
        text("SELECT withdrawn_reason FROM offer WHERE lead_id = :l"), {"l": disowned_lead}
    ).scalar_one()
    assert withdrawn == "not_me"
