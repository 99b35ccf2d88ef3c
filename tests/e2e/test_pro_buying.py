"""Espace Pro: buying a lead from the inbox and working the contact, with the same rules as the
API (roles, idempotency, sold meanwhile, one agency never sees another's)."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from sqlalchemy import text

from tests.e2e.test_pro_sign_in import browser
from tests.market import buyers, offered_lead
from tests.pro import form_token, person, sign_in


def confirm(web: Any, lead: object) -> tuple[Any, dict[str, str]]:
    page = web.get(f"/pro/leads/{lead}/buy")
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    return page, fields


@pytest.fixture
def market(clean_db, session):  # type: ignore[no-untyped-def]
    mine, theirs = buyers(session, 2)
    lead = offered_lead(session, consent_to=[mine, theirs])
    return mine, theirs, lead


def test_a_buyer_buys_from_the_inbox_and_gets_the_contact(clean_db, session, market) -> None:
    mine, _, lead = market
    email = person(mine.agency_id)
    with browser(clean_db) as web:
        sign_in(web, email)
        assert f"/pro/leads/{lead}/buy" in web.get("/pro/leads").text
        page, fields = confirm(web, lead)
        assert "HT" in page.text
        assert "Exclusif" in page.text

        bought = web.post(f"/pro/leads/{lead}/buy", data=fields)
        again = web.post(f"/pro/leads/{lead}/buy", data=fields)  # a double click

        assert bought.status_code == 200
        assert "le contact est à vous" in bought.text
        phone = session.execute(
            text("SELECT phone_e164 FROM lead WHERE id = :id"), {"id": lead}
        ).scalar_one()
        assert f'href="tel:{phone}"' in bought.text
        assert again.url == bought.url  # the same purchase answered again
        assert f"/pro/leads/{lead}/buy" not in web.get("/pro/leads").text
        contacts = web.get("/pro/contacts").text
        assert "Jeanne" in contacts
    purchase = session.execute(
        text("""SELECT count(*), max(bought_by::text), max(bought_by_person::text)
                FROM purchase""")
    ).one()
    person_id = session.execute(
        text("SELECT id::text FROM agency_user WHERE email = :e"), {"e": email}
    ).scalar_one()
    assert purchase == (1, None, person_id)
    audit = (
        session.execute(
            text("SELECT actor_user_id::text FROM audit_log WHERE action = 'contact.revealed'")
        )
        .scalars()
        .all()
    )
    assert person_id in audit


def test_a_viewer_sees_no_buy_button_and_a_forged_post_buys_nothing(
    clean_db, session, market
) -> None:
    mine, _, lead = market
    with browser(clean_db) as web:
        sign_in(web, person(mine.agency_id, role="viewer"))
        assert f"/pro/leads/{lead}/buy" not in web.get("/pro/leads").text
        page, _ = confirm(web, lead)
        assert "Confirmer l'achat" not in page.text
        price = web.get(f"/pro/leads/{lead}/buy")
        forged = web.post(
            f"/pro/leads/{lead}/buy",
            data={"mode": "exclusive", "price_cents": "21600", "attempt": "x",
                  "csrf": form_token(price.text)},
        )  # fmt: skip
        assert forged.status_code == 403
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 0


def test_a_lead_sold_meanwhile_says_so_and_charges_nothing(clean_db, session, market) -> None:
    mine, theirs, lead = market
    with browser(clean_db) as web:
        sign_in(web, person(mine.agency_id))
        _, fields = confirm(web, lead)  # the page is open…
        offer = web.get(f"/api/v1/leads/{lead}", headers=theirs.headers).json()
        sold = web.post(
            f"/api/v1/leads/{lead}/purchase",
            json={"mode": "exclusive", "price_cents": offer["price_cents"]},
            headers=theirs.headers,
        )  # …and another agency buys it through the API
        assert sold.status_code == 201

        late = web.post(f"/pro/leads/{lead}/buy", data=fields)

        assert late.status_code == 409
        assert "Trop tard" in late.text
    bought = session.execute(text("SELECT agency_id FROM purchase")).scalars().all()
    assert bought == [theirs.agency_id]


def test_another_agencys_contacts_and_offers_are_not_found(clean_db, session, market) -> None:
    mine, theirs, lead = market
    offer = session.execute(
        text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :id"), {"id": lead}
    ).scalar_one()
    with browser(clean_db) as rival:
        rival.post(
            f"/api/v1/leads/{lead}/purchase",
            json={"mode": "exclusive", "price_cents": offer},
            headers=theirs.headers,
        )
    purchase = session.execute(text("SELECT id FROM purchase")).scalar_one()
    elsewhere = offered_lead(session, consent_to=[theirs])
    with browser(clean_db) as web:
        sign_in(web, person(mine.agency_id))
        page = web.get(f"/pro/contacts/{purchase}")
        assert page.status_code == 404
        assert "Jeanne" not in page.text
        assert web.get(f"/pro/leads/{elsewhere}/buy").status_code == 404
        stage = web.post(
            f"/pro/contacts/{purchase}/stage",
            data={"pipeline_status": "lost", "csrf": form_token(web.get("/pro/leads").text)},
        )
        assert stage.status_code == 404
    assert session.execute(text("SELECT pipeline_status FROM purchase")).scalar_one() == "new"


def test_a_buyer_moves_a_contact_along_with_a_note(clean_db, session, market) -> None:
    mine, _, lead = market
    with browser(clean_db) as web:
        sign_in(web, person(mine.agency_id))
        _, fields = confirm(web, lead)
        contact = web.post(f"/pro/leads/{lead}/buy", data=fields)
        saved = web.post(
            str(contact.url).split("?")[0] + "/stage",
            data={"pipeline_status": "appointment", "notes": "Visite jeudi 10 h",
                  "csrf": form_token(contact.text)},
        )  # fmt: skip
        assert "Enregistré" in saved.text
        assert "Visite jeudi 10 h" in saved.text
    row = session.execute(text("SELECT pipeline_status, notes FROM purchase")).one()
    assert tuple(row) == ("appointment", "Visite jeudi 10 h")


def test_two_agencies_clicking_buy_at_once_make_one_buyer(clean_db, session, market) -> None:
    mine, theirs, lead = market
    answers: dict[str, Any] = {}
    ready = threading.Barrier(2)

    def click(name: str, agency: Any) -> None:
        with browser(clean_db) as web:
            sign_in(web, person(agency.agency_id))
            _, fields = confirm(web, lead)
            ready.wait()
            answers[name] = web.post(f"/pro/leads/{lead}/buy", data=fields)

    threads = [
        threading.Thread(target=click, args=("mine", mine)),
        threading.Thread(target=click, args=("theirs", theirs)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(a.status_code for a in answers.values())
    assert statuses == [200, 409]
    loser = next(a for a in answers.values() if a.status_code == 409)
    assert "Trop tard" in loser.text
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 1


def test_a_withdrawn_consent_says_do_not_contact_everywhere(clean_db, client, session) -> None:
    """The homeowner withdraws this agency's consent after it bought: the page, the API and the
    CSV say "do not contact" and no longer give the e-mail or phone."""
    from engine.privacy.links import make_token

    (mine,) = buyers(session, 1)
    lead = offered_lead(session, consent_to=[mine])
    price = client.get(f"/api/v1/leads/{lead}", headers=mine.headers).json()["price_cents"]
    bought = client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=mine.headers,
    ).json()
    phone = bought["contact"]["phone"]

    withdrawn = client.post(
        f"/api/v1/me/consents/{mine.agency_id}/withdraw?token={make_token(lead)}"
    )

    assert withdrawn.status_code == 200
    api = client.get(f"/api/v1/purchases/{bought['purchase_id']}", headers=mine.headers).json()
    assert api["do_not_contact"] == "consent_withdrawn"
    assert api["contact"]["phone"] is None
    assert api["contact"]["email"] is None
    export = client.get("/api/v1/purchases.csv", headers=mine.headers).text
    assert "consent_withdrawn" in export
    assert phone not in export
    with browser(clean_db) as web:
        sign_in(web, person(mine.agency_id))
        page = web.get(f"/pro/contacts/{bought['purchase_id']}").text
        assert "Ne plus contacter" in page
        assert "tel:" not in page
        assert "ne plus contacter" in web.get("/pro/contacts").text


def test_a_purchase_refunded_in_full_no_longer_shows_the_contact(clean_db, client, session) -> None:
    """Security review F12: an agency refunded in full does not keep the contact for free; a
    partial refund keeps it (the agency paid for part of it)."""
    from tests.e2e.test_refunds import ask, bought, finance

    (mine,) = buyers(session, 1)
    full, price = bought(client, session, mine)
    partial, _ = bought(client, session, mine)
    for purchase, amount in ((full, price), (partial, price // 2)):
        request = ask(client, mine, purchase).json()["id"]
        decided = client.post(
            f"/api/v1/refund-requests/{request}/decision",
            json={"decision": "approve", "amount_cents": amount, "note": "Appel sans réponse."},
            headers=finance(),
        )
        assert decided.status_code == 200, decided.text

    refunded = client.get(f"/api/v1/purchases/{full}", headers=mine.headers).json()
    kept = client.get(f"/api/v1/purchases/{partial}", headers=mine.headers).json()

    assert refunded["do_not_contact"] == "refunded"
    assert refunded["contact"]["phone"] is None
    assert refunded["contact"]["email"] is None
    assert kept["do_not_contact"] is None
    assert kept["contact"]["phone"]
    export = client.get("/api/v1/purchases.csv?format=excel", headers=mine.headers).text
    assert "Ne plus contacter : achat remboursé en totalité" in export
    with browser(clean_db) as web:
        sign_in(web, person(mine.agency_id))
        page = web.get(f"/pro/contacts/{full}").text
        assert "remboursé en totalité" in page
        assert "tel:" not in page
        assert "tel:" in web.get(f"/pro/contacts/{partial}").text


def test_a_disowned_contact_is_not_to_be_contacted(clean_db, client, session) -> None:
    """ "Ce n'était pas moi": the buyer is refunded in full and the contact page says why the
    details are gone."""
    from tests.e2e.test_contact_confirmation import NOT_ME, buy_shared
    from tests.e2e.test_homeowner_rights import link_token

    (mine,) = buyers(session, 1)
    lead = offered_lead(session, consent_to=[mine])
    (purchase,) = buy_shared(client, session, lead, [mine])
    assert client.post(NOT_ME.format(link_token(session, "/me/not-me"))).status_code == 200

    api = client.get(f"/api/v1/purchases/{purchase}", headers=mine.headers).json()
    assert api["do_not_contact"] == "disowned"
    assert api["contact"]["email"] is None
    with browser(clean_db) as web:
        sign_in(web, person(mine.agency_id))
        page = web.get(f"/pro/contacts/{purchase}").text
        assert "dit ne pas avoir fait cette demande" in page
        assert "tel:" not in page


def test_a_replayed_purchase_gives_no_contact_after_the_consent_is_withdrawn(
    clean_db, client, session
) -> None:
    """The stored answer of an Idempotency-Key holds the contact: withdrawing the consent
    removes it, so a replay cannot hand the e-mail and phone back."""
    from engine.privacy.links import make_token

    (mine,) = buyers(session, 1)
    lead = offered_lead(session, consent_to=[mine])
    price = client.get(f"/api/v1/leads/{lead}", headers=mine.headers).json()["price_cents"]
    buy = {"json": {"mode": "exclusive", "price_cents": price}}
    headers = {**mine.headers, "Idempotency-Key": "order-42"}
    first = client.post(f"/api/v1/leads/{lead}/purchase", headers=headers, **buy)
    assert first.status_code == 201
    phone = first.json()["contact"]["phone"]
    assert client.post(f"/api/v1/leads/{lead}/purchase", headers=headers, **buy).text == first.text

    client.post(f"/api/v1/me/consents/{mine.agency_id}/withdraw?token={make_token(lead)}")
    replay = client.post(f"/api/v1/leads/{lead}/purchase", headers=headers, **buy)

    assert replay.status_code == 409
    assert phone not in replay.text
