"""Speed to lead and the agenda digest on the real database: a bought contact still "new"
reminds its buyer after the setting's delay, the owners after a day, each once — even when two
scheduler runs fire at the same moment; the daily digest goes once per person and day."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from engine.crm.flows import remind_waiting_contacts, send_agenda_digests
from tests.market import Buyer, buyers, offered_lead
from tests.pro import person

PARIS = ZoneInfo("Europe/Paris")


def bought(session, agency: Buyer, buyer_email: str, minutes_ago: int) -> uuid.UUID:  # type: ignore[no-untyped-def]
    """A purchase of the agency, made `minutes_ago` by the person with this address."""
    from litestar.testing import TestClient

    from api.app import create_app

    lead = offered_lead(session, consent_to=[agency])
    with TestClient(create_app()) as client:
        price = client.get(f"/api/v1/leads/{lead}", headers=agency.headers).json()["price_cents"]
        answer = client.post(
            f"/api/v1/leads/{lead}/purchase",
            json={"mode": "exclusive", "price_cents": price},
            headers=agency.headers,
        ).json()
    purchase = uuid.UUID(answer["purchase_id"])
    session.execute(
        text("""
            UPDATE purchase SET created_at = clock_timestamp() - make_interval(mins => :m),
                   bought_by_person = (SELECT id FROM agency_user WHERE email = :e)
            WHERE id = :id
        """),
        {"m": minutes_ago, "e": buyer_email, "id": purchase},
    )
    session.commit()
    return purchase


def at_once(job: Callable[[], Any], runs: int = 2) -> list[Any]:
    """`runs` threads calling `job` together, released by one barrier."""
    barrier = threading.Barrier(runs)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        results.append(job())

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def mails(session, event: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    session.commit()
    return [
        tuple(r)
        for r in session.execute(
            text("""SELECT recipient, payload->>'text' FROM outbox WHERE event = :e
                    ORDER BY recipient"""),
            {"e": event},
        )
    ]


def test_a_waiting_contact_reminds_its_buyer_then_the_owner_once_each(clean_db, session) -> None:
    (agency,) = buyers(session, 1)
    buyer = person(agency.agency_id, name="Bruno Buyer")
    owner = person(agency.agency_id, role="owner", name="Odile Owner")
    fresh = bought(session, agency, buyer, minutes_ago=10)
    waiting = [bought(session, agency, buyer, minutes_ago=31) for _ in range(5)]
    forgotten = bought(session, agency, buyer, minutes_ago=25 * 60)
    called = bought(session, agency, buyer, minutes_ago=40)
    session.execute(
        text("UPDATE purchase SET first_contact_at = clock_timestamp() WHERE id = :id"),
        {"id": called},
    )
    session.commit()

    results = at_once(remind_waiting_contacts)  # two scheduler runs at the same moment

    to_buyer = mails(session, "contact.waiting.buyer")
    assert len(to_buyer) == 6  # the five waiting and the forgotten one, once each
    assert {r for r, _ in to_buyer} == {buyer}
    linked = {str(p) for p in [*waiting, forgotten]}
    assert {t.split("/pro/contacts/")[1].split()[0] for _, t in to_buyer} == linked
    assert all(str(fresh) not in t and str(called) not in t for _, t in to_buyer)
    assert "Rennes (35000)" in to_buyer[0][1]
    to_owner = mails(session, "contact.waiting.owner")
    assert to_owner == [(owner, to_owner[0][1])]
    assert str(forgotten) in to_owner[0][1]
    assert sum(r["buyer"] for r in results) == 6
    assert sum(r["owner"] for r in results) == 1

    assert remind_waiting_contacts() == {"buyer": 0, "owner": 0}  # once, whatever runs later
    assert len(mails(session, "contact.waiting.buyer")) == 6


def test_the_delay_is_a_setting_and_a_contact_moved_on_is_not_chased(clean_db, session) -> None:
    (agency,) = buyers(session, 1)
    buyer = person(agency.agency_id)
    session.execute(
        text("UPDATE setting SET value = '60' WHERE key = 'speed_to_lead_reminder_minutes'")
    )
    session.commit()
    soon = bought(session, agency, buyer, minutes_ago=45)
    lost = bought(session, agency, buyer, minutes_ago=90)
    session.execute(
        text("UPDATE purchase SET pipeline_status = 'lost' WHERE id = :id"), {"id": lost}
    )
    session.commit()

    assert remind_waiting_contacts() == {"buyer": 0, "owner": 0}
    session.execute(
        text("UPDATE purchase SET created_at = created_at - interval '20 minutes' WHERE id = :id"),
        {"id": soon},
    )
    session.commit()
    assert remind_waiting_contacts() == {"buyer": 1, "owner": 0}


def test_the_agenda_digest_goes_once_a_day_to_each_person_with_something_due(
    clean_db, session
) -> None:
    (agency,) = buyers(session, 1)
    busy = person(agency.agency_id, name="Bruno Buyer")
    idle = person(agency.agency_id, name="Ivan Idle")
    purchase = bought(session, agency, busy, minutes_ago=5)
    today = datetime.now(PARIS).date()
    nine = datetime.combine(today, datetime.min.time(), PARIS) + timedelta(hours=9)
    session.execute(
        text("""
            INSERT INTO contact_reminder (purchase_id, person_id, due_at, note)
            SELECT :p, id, :due, 'Envoyer l''avis de valeur' FROM agency_user WHERE email = :e
        """),
        {"p": purchase, "due": nine, "e": busy},
    )
    session.execute(
        text("""
            INSERT INTO appointment (purchase_id, person_id, starts_at, ends_at, place)
            SELECT :p, id, :at, :at + interval '1 hour', 'Sur place' FROM agency_user
            WHERE email = :e
        """),
        {"p": purchase, "at": nine + timedelta(hours=5), "e": busy},
    )
    session.commit()

    sent = at_once(lambda: send_agenda_digests(today))

    assert sorted(sent) == [0, 1]
    (mail,) = mails(session, "agenda.digest")
    assert mail[0] == busy
    assert idle not in mail[0]
    assert "- 14:00–15:00, Rennes (35000)" in mail[1]
    assert "- 09:00, Rennes (35000)" in mail[1]
    assert "Jeanne" not in mail[1]  # nothing about the homeowner: the page has it
    assert "avis de valeur" not in mail[1]
    assert "/pro/agenda" in mail[1]
    assert send_agenda_digests(today) == 0
