"""E-mails an agency's people can act on (issue 13 item 5): each has its own subject, says where
the property is by commune name and postal code (never an INSEE code), the facts that matter,
and links to the page of Espace Pro where they act, as text and as HTML."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy import text

from engine.notify.agency_letters import agency_letter
from engine.notify.deliver import deliver_due
from engine.notify.places import Place
from tests.e2e.test_homeowner_rights import link_token
from tests.e2e.test_refunds import ask, bought, finance
from tests.market import buyers, offered_lead

RENNES_INSEE = "35238"


def to_agency(mailbox, address: str) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    return [m for m in mailbox.messages if m["To"] == address]


def parts(mail: EmailMessage) -> tuple[str, str]:
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None, "an agency e-mail has a text body"
    assert html is not None, "and the same words as HTML"
    return plain.get_content(), html.get_content()


def agency_email(session, agency_id: object) -> str:  # type: ignore[no-untyped-def]
    return session.execute(
        text("SELECT email FROM agency WHERE id = :a"), {"a": agency_id}
    ).scalar_one()


def test_the_new_lead_email_says_where_with_the_postal_code_and_links_to_the_inbox(
    session, mailbox
) -> None:
    (a,) = buyers(session, 1)
    offered_lead(session)
    session.commit()

    deliver_due(datetime.now(UTC))

    (mail,) = to_agency(mailbox, agency_email(session, a.agency_id))
    body, html = parts(mail)
    assert mail["Subject"] == "Nouveau contact vendeur à Rennes (35000)"
    assert "Rennes (35000)" in body
    assert RENNES_INSEE not in body
    assert re.search(r"en exclusivité pour [\d\u202f]+,\d\d € HT \(qualité [ABC]\)", body)
    assert re.search(r"jusqu'au \d\d/\d\d/\d{4} à \d\dh\d\d", body)
    assert re.search(r"Voir le contact et l'acheter : https?://\S+/pro/leads\s", body)
    assert re.search(r'<a href="https?://[^"]+/pro/leads">Voir le contact', html)


def test_the_purchase_email_links_to_the_contact_page_not_to_the_api(
    client, session, mailbox
) -> None:
    (a,) = buyers(session, 1)
    purchase, _ = bought(client, session, a)
    session.execute(text("DELETE FROM outbox WHERE event <> 'purchase.created'"))
    session.commit()

    deliver_due(datetime.now(UTC))

    (mail,) = to_agency(mailbox, agency_email(session, a.agency_id))
    body, html = parts(mail)
    assert mail["Subject"] == "Achat confirmé : contact vendeur à Rennes (35000)"
    assert "/api/v1" not in body
    assert f"/pro/contacts/{purchase}" in body
    assert f"/pro/contacts/{purchase}" in html


def test_refund_decision_and_consent_withdrawal_each_say_what_happened(
    client, session, mailbox
) -> None:
    (a,) = buyers(session, 1)
    one, price = bought(client, session, a)
    request = ask(client, a, one).json()["id"]
    decided = client.post(
        f"/api/v1/refund-requests/{request}/decision",
        json={"decision": "approve", "amount_cents": price // 2, "note": "Appel tardif."},
        headers=finance(),
    )
    assert decided.status_code == 200, decided.text
    token = link_token(session)
    withdrawn = client.post(f"/api/v1/me/consents/{a.agency_id}/withdraw?token={token}")
    assert withdrawn.status_code == 200, withdrawn.text
    session.execute(
        text("DELETE FROM outbox WHERE event NOT IN ('refund.decided', 'consent.withdrawn')")
    )
    session.commit()

    deliver_due(datetime.now(UTC))

    mails = {m["Subject"]: parts(m) for m in to_agency(mailbox, agency_email(session, a.agency_id))}
    assert set(mails) == {
        "Remboursement accepté : contact à Rennes (35000)",
        "Ne plus contacter : le propriétaire à Rennes (35000) a retiré son consentement",
    }
    refund, _ = mails["Remboursement accepté : contact à Rennes (35000)"]
    half = f"{price // 2 // 100},{price // 2 % 100:02d} € HT"
    assert half in refund.replace("\u202f", "")
    assert "Motif : Appel tardif." in refund
    for body, _html in mails.values():
        assert f"/pro/contacts/{one}" in body


EVENTS = {
    "lead.offered": {"lead_id": "x", "mode": "exclusive", "price_cents": 4500, "grade": "A"},
    "lead.shared": {"lead_id": "x", "mode": "shared", "price_cents": 2500, "slots_left": 2},
    "purchase.created": {"purchase_id": "p", "mode": "shared", "price_cents": 2500},
    "refund.decided": {"purchase_id": "p", "status": "rejected", "note": "Hors délai."},
    "consent.withdrawn": {"purchase_id": "p", "lead_id": "x"},
    "lead.erased": {"purchase_id": "p", "lead_id": "x"},
    "lead.disowned": {"purchase_id": "p", "lead_id": "x"},
    "einvoice.issued": {"document": "invoice", "number": "F-2026-000012", "total_ttc_cents": 9},
    "invoice.payment_failed": {"number": "F-2026-000012", "reason": "card_declined"},
    "invoice.payment_reminder": {"number": "F-2026-000012", "amount_cents": 5400},
    "agency.suspended": {"number": "F-2026-000012"},
}


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_agency_email_has_its_subject_a_link_and_escapes_the_agency_name(event) -> None:
    hostile = 'Agence <script>alert("x")</script>'
    letter = agency_letter(event, hostile, EVENTS[event], Place("Saint-Malo", "35400"))

    assert letter.subject not in ("", "Mandat")
    assert letter.action is not None
    assert "/pro" in letter.action[1]
    assert "<script>" not in letter.html()
    assert "&lt;script&gt;" in letter.html()
    if "lead_id" in EVENTS[event] or "purchase_id" in EVENTS[event]:
        assert "Saint-Malo (35400)" in letter.text()


def test_every_agency_event_has_a_subject_of_its_own() -> None:
    subjects = {agency_letter(e, "A", EVENTS[e], Place("Brest", "29200")).subject for e in EVENTS}
    assert len(subjects) == len(EVENTS)
