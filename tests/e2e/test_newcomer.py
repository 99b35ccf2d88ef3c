"""A newcomer sees the product work: the demo has a person to sign in as, and in development the
e-mails Mandat writes are readable at /dev/mail without any SMTP server."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from engine.demo.people import DEMO_EMAIL, seed_demo_person
from engine.people.service import Credentials, sign_in
from tests.e2e.test_pro_sign_in import browser
from tests.market import buyers, offered_lead
from tests.pro import form_token, person
from tests.pro import sign_in as web_sign_in


def test_the_demo_has_an_owner_who_signs_in_where_the_leads_are(session, tmp_path: Path) -> None:
    _quiet, busy = buyers(session, 2)
    session.execute(text("UPDATE agency SET is_demo = true"))
    session.commit()
    offered_lead(session, consent_to=[busy])
    where = tmp_path / "demo-sign-in.txt"

    first = seed_demo_person(session, where)
    session.commit()
    again = seed_demo_person(session, where)

    assert first is not None
    assert again == first  # made once; make run prints the same sign-in every time
    assert stat.S_IMODE(where.stat().st_mode) == 0o600
    agency = session.execute(
        text("SELECT agency_id FROM agency_user WHERE email = :e"), {"e": DEMO_EMAIL}
    ).scalar_one()
    assert agency == busy.agency_id  # the agency homeowners named, not an empty one
    assert sign_in(Credentials(DEMO_EMAIL, first.password)).token


def test_dev_mail_shows_the_emails_in_development_only(clean_db, session, monkeypatch) -> None:
    (agency,) = buyers(session, 1, name="Agence du Centre")
    owner = person(agency.agency_id, role="owner")
    with browser(clean_db) as web:
        assert web.get("/dev/mail").status_code == 404  # production: no such page
        monkeypatch.setenv("MANDAT_ENV", "development")
        web.cookies.clear()
        web_sign_in(web, owner)  # development: the plain cookie
        team = web.get("/pro/team")
        web.post(
            "/pro/team/invite",
            data={"email": "bruno@agence.example", "name": "Bruno", "role": "buyer",
                  "csrf": form_token(team.text)},
        )  # fmt: skip

        mailbox = web.get("/dev/mail")

    assert mailbox.status_code == 200
    assert "Invitation à rejoindre Agence du Centre" in mailbox.text
    assert "/pro/welcome?token=" in mailbox.text
    assert "bruno@agence.example" in mailbox.text


def test_the_demo_agency_has_contacts_at_every_stage_and_last_months_invoice(
    clean_db, session, tmp_path: Path
) -> None:
    from engine.demo.purchases import seed_demo_work
    from engine.sales.models import PIPELINE

    (agency,) = buyers(session, 1, name="Agence Démo du Centre")
    session.execute(text("UPDATE agency SET is_demo = true"))
    session.commit()
    for _ in range(len(PIPELINE) + 1):
        offered_lead(session, consent_to=[agency])
    demo = seed_demo_person(session, tmp_path / "demo-sign-in.txt")
    session.commit()
    assert demo is not None

    work = seed_demo_work(DEMO_EMAIL)

    assert work is not None
    assert work.purchases == len(PIPELINE)
    stages = session.execute(
        text("SELECT pipeline_status FROM purchase WHERE agency_id = :a"), {"a": agency.agency_id}
    ).scalars()
    assert sorted(stages) == sorted(PIPELINE)
    invoice = session.execute(
        text("""
            SELECT number, status, period < date_trunc('month', now()) AS past
            FROM invoice WHERE agency_id = :a
        """),
        {"a": agency.agency_id},
    ).one()
    assert invoice.number == work.invoice_number
    assert invoice.past
    assert invoice.status != "paid"  # the demo has no card: the dashboard shows the banner
    assert seed_demo_work(DEMO_EMAIL) is None  # made once

    with browser(clean_db) as web:
        web_sign_in(web, DEMO_EMAIL, demo.password)
        dashboard = web.get("/pro/")
    assert invoice.number in dashboard.text
