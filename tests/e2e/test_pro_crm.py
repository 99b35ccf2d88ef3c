"""Espace Pro: working a bought contact — the timeline, reminders, appointments (with their
.ics and the person's calendar link), the hand-over, the refund from the contact's page, the
pipeline board, the agenda — with the API's rules: one agency never reaches another's, a viewer
writes nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import text

from tests.e2e.test_pro_sign_in import browser
from tests.market import Buyer, buyers, offered_lead
from tests.pro import form_token, person, sign_in

PARIS = ZoneInfo("Europe/Paris")


def buy(web: Any, lead: object) -> str:
    """The buyer buys the lead from its confirmation page: the purchase's id."""
    page = web.get(f"/pro/leads/{lead}/buy")
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    bought = web.post(f"/pro/leads/{lead}/buy", data=fields)
    assert bought.status_code == 200, bought.text[:500]
    return str(bought.url).split("/pro/contacts/")[1].split("?")[0]


class Shop:
    def __init__(self, mine: Buyer, theirs: Buyer, web: Any, email: str, purchase: str) -> None:
        self.mine, self.theirs, self.web, self.email, self.purchase = (
            mine,
            theirs,
            web,
            email,
            purchase,
        )

    def token(self) -> str:
        return form_token(self.web.get(f"/pro/contacts/{self.purchase}").text)

    def post(self, path: str, **data: str) -> Any:
        return self.web.post(path, data={"csrf": self.token(), **data})


@pytest.fixture
def shop(clean_db, session) -> Iterator[Shop]:  # type: ignore[no-untyped-def]
    """A buyer of agency "mine", signed in, who bought one lead; agency "theirs" next door."""
    mine, theirs = buyers(session, 2)
    lead = offered_lead(session, consent_to=[mine, theirs])
    email = person(mine.agency_id, name="Bruno Buyer")
    with browser(clean_db) as web:
        sign_in(web, email)
        yield Shop(mine, theirs, web, email, buy(web, lead))


def person_id(session, email: str) -> uuid.UUID:  # type: ignore[no-untyped-def]
    found: uuid.UUID = session.execute(
        text("SELECT id FROM agency_user WHERE email = :e"), {"e": email}
    ).scalar_one()
    return found


def test_a_logged_call_is_on_the_timeline_and_is_the_first_contact(clean_db, shop, session) -> None:
    answer = shop.post(
        f"/pro/contacts/{shop.purchase}/interactions",
        kind="call",
        body="Messagerie, rappeler ce soir",
    )

    assert answer.status_code == 200
    assert "Noté dans l'historique" in answer.text
    timeline = answer.text.split('id="timeline"')[1].split("</section>")[0]
    assert "Appel" in timeline
    assert "Messagerie, rappeler ce soir" in timeline
    assert "Bruno Buyer" in timeline
    assert "Premier contact le" in answer.text
    row = session.execute(
        text("SELECT pipeline_status, first_contact_at IS NOT NULL FROM purchase")
    ).one()
    assert tuple(row) == ("contacted", True)  # a "new" contact moves on with its first call

    note = shop.post(f"/pro/contacts/{shop.purchase}/interactions", kind="note", body="  ")
    assert note.status_code == 422
    assert 'id="body-error"' in note.text
    assert "Ce champ est obligatoire" in note.text
    count = session.execute(text("SELECT count(*) FROM contact_interaction")).scalar_one()
    assert count == 1

    # Its author corrects it: an empty note is refused next to the field, nothing changes.
    entry = session.execute(text("SELECT id FROM contact_interaction")).scalar_one()
    session.commit()
    at = f"/pro/contacts/{shop.purchase}/interactions/{entry}"
    empty = shop.post(at, kind="note", body=" ")
    assert empty.status_code == 422
    assert f'id="body-error-{entry}"' in empty.text
    assert session.execute(text("SELECT kind FROM contact_interaction")).scalar_one() == "call"
    session.commit()
    corrected = shop.post(at, kind="note", body="Pas appelé : une note")
    assert "Entrée corrigée" in corrected.text
    assert "corrigé le" in corrected.text.split('id="timeline"')[1].split("</section>")[0]
    row = session.execute(text("SELECT pipeline_status, first_contact_at FROM purchase")).one()
    assert tuple(row) == ("contacted", None)  # no call left: no first contact; the stage stays
    session.commit()

    # A colleague who is not its author cannot; an owner can, and deletes it.
    with browser(clean_db) as colleague:
        sign_in(colleague, person(shop.mine.agency_id, name="Chloé Collègue"))
        page = colleague.get(f"/pro/contacts/{shop.purchase}").text
        assert f'action="{at}"' not in page
        forged = colleague.post(at, data={"kind": "call", "body": "", "csrf": form_token(page)})
        assert forged.status_code == 403
    with browser(clean_db) as boss:
        sign_in(boss, person(shop.mine.agency_id, role="owner"))
        page = boss.get(f"/pro/contacts/{shop.purchase}").text
        assert f'action="{at}"' in page
        deleted = boss.post(f"{at}/delete", data={"csrf": form_token(page)})
        assert "Entrée supprimée" in deleted.text
    assert session.execute(text("SELECT count(*) FROM contact_interaction")).scalar_one() == 0
    assert session.execute(
        text("SELECT count(*) FROM audit_log WHERE action IN ('contact.corrected', "
             "'contact.deleted')")
    ).scalar_one() == 2  # fmt: skip


def test_reminders_are_set_done_and_undone(shop, session) -> None:
    me = person_id(session, shop.email)
    tomorrow = (datetime.now(PARIS) + timedelta(days=1)).date().isoformat()
    set_ = shop.post(
        f"/pro/contacts/{shop.purchase}/reminders",
        due_date=tomorrow,
        due_time="09:30",
        note="Envoyer l'avis de valeur",
        person_id=str(me),
    )
    assert "Rappel enregistré" in set_.text
    due = session.execute(text("SELECT due_at FROM contact_reminder")).scalar_one()
    assert due.astimezone(PARIS).strftime("%H:%M") == "09:30"
    reminder = session.execute(text("SELECT id FROM contact_reminder")).scalar_one()

    shop.post(f"/pro/reminders/{reminder}/done", done="1")
    assert session.execute(text("SELECT done_at IS NOT NULL FROM contact_reminder")).scalar_one()
    page = shop.post(f"/pro/reminders/{reminder}/done", done="0")
    assert "Finalement pas fait" not in page.text
    assert ">Fait<" in page.text
    assert session.execute(text("SELECT done_at FROM contact_reminder")).scalar_one() is None

    agenda = shop.web.get("/pro/agenda").text
    assert "Envoyer l&#39;avis de valeur" in agenda

    bad = shop.post(
        f"/pro/contacts/{shop.purchase}/reminders", due_date="demain", due_time="9h", note="x"
    )
    assert bad.status_code == 422
    assert "Indiquez une date et une heure" in bad.text

    # Changed (what and when), refused without its text, then deleted.
    at = f"/pro/contacts/{shop.purchase}/reminders/{reminder}"
    changed = shop.post(at, due_date=tomorrow, due_time="11:15", note="Envoyer l'avis, signé")
    assert "Rappel modifié" in changed.text
    due, note = session.execute(text("SELECT due_at, note FROM contact_reminder")).one()
    session.commit()
    assert (due.astimezone(PARIS).strftime("%H:%M"), note) == ("11:15", "Envoyer l'avis, signé")
    empty = shop.post(at, due_date=tomorrow, due_time="12:00", note="  ")
    assert empty.status_code == 422
    assert f'id="note-error-{reminder}"' in empty.text
    assert session.execute(text("SELECT note FROM contact_reminder")).scalar_one() == note
    session.commit()
    assert "Rappel supprimé" in shop.post(f"{at}/delete").text
    assert session.execute(text("SELECT count(*) FROM contact_reminder")).scalar_one() == 0


def test_an_appointment_gives_an_ics_file_and_a_calendar_link(shop, session) -> None:
    day = (datetime.now(PARIS) + timedelta(days=2)).date()
    set_ = shop.post(
        f"/pro/contacts/{shop.purchase}/appointments",
        day=day.isoformat(),
        starts="14:00",
        ends="15:00",
        place="12 rue de la Paix, Rennes",
    )
    assert "Rendez-vous enregistré" in set_.text
    link = re.search(r'href="(/pro/contacts/[^"]+/calendar\.ics)"', set_.text).group(1)  # type: ignore[union-attr]
    ics = shop.web.get(link)
    assert ics.headers["content-type"].startswith("text/calendar")
    (event,) = Calendar.from_ical(ics.content).walk("VEVENT")
    assert event.decoded("dtstart").astimezone(PARIS) == datetime.combine(
        day, datetime.min.time(), PARIS
    ).replace(hour=14)
    assert str(event.get("location")) == "12 rue de la Paix, Rennes"
    assert "Jeanne" in str(event.get("summary"))
    assert session.execute(text("SELECT pipeline_status FROM purchase")).scalar_one() == (
        "appointment"
    )
    backwards = shop.post(
        f"/pro/contacts/{shop.purchase}/appointments",
        day=day.isoformat(),
        starts="15:00",
        ends="14:00",
    )
    assert backwards.status_code == 422
    assert "La fin vient après le début" in backwards.text

    made = shop.web.post(
        "/pro/agenda/calendar-link", data={"csrf": form_token(shop.web.get("/pro/agenda").text)}
    )
    url = re.search(r'<code id="feed-url">([^<]+)</code>', made.text).group(1)  # type: ignore[union-attr]
    path = url.split("127.0.0.1:8000")[-1]
    with browser("") as stranger:  # a calendar application: no session, the link is the key
        feed = stranger.get(path)
        assert feed.status_code == 200
        assert len(Calendar.from_ical(feed.content).walk("VEVENT")) == 1
        assert shop.web.get("/pro/agenda").text.count("Un lien créé le") == 1
        assert session.execute(text("SELECT count(*) FROM calendar_feed")).scalar_one() == 1
        stored = session.execute(text("SELECT token_hash FROM calendar_feed")).scalar_one()
        assert path.split("/")[-1].removesuffix(".ics").encode() not in bytes(stored)
        session.commit()

        # Rescheduled, then cancelled: the same event (UID) with a higher SEQUENCE each time.
        appointment = session.execute(text("SELECT id FROM appointment")).scalar_one()
        session.commit()
        at = f"/pro/contacts/{shop.purchase}/appointments/{appointment}"
        ends_first = shop.post(at, day=day.isoformat(), starts="16:00", ends="15:30")
        assert ends_first.status_code == 422
        assert f'id="ends-error-{appointment}"' in ends_first.text
        moved = shop.post(at, day=day.isoformat(), starts="16:00", ends="17:00", place="Sur place")
        assert "Rendez-vous déplacé" in moved.text
        (event,) = Calendar.from_ical(shop.web.get(link).content).walk("VEVENT")
        assert event.decoded("dtstart").astimezone(PARIS).strftime("%H:%M") == "16:00"
        assert (str(event["uid"]), int(event["sequence"])) == (f"{appointment}@mandat", 1)
        cancelled = shop.post(f"{at}/cancel")
        assert "Rendez-vous annulé" in cancelled.text
        listed = cancelled.text.split(f'id="appointment-{appointment}"')[1].split("</li>")[0]
        assert "Annulé" in listed
        assert f'action="{at}"' not in cancelled.text  # no rescheduling a cancelled one
        single = Calendar.from_ical(shop.web.get(link).content)
        (event,) = single.walk("VEVENT")
        assert str(single["method"]) == "CANCEL"
        assert (str(event["uid"]), int(event["sequence"]), str(event["status"])) == (
            f"{appointment}@mandat",
            2,
            "CANCELLED",
        )
        (fed,) = Calendar.from_ical(stranger.get(path).content).walk("VEVENT")
        assert (str(fed["uid"]), int(fed["sequence"]), str(fed["status"])) == (
            f"{appointment}@mandat",
            2,
            "CANCELLED",
        )
        again = shop.post(at, day=day.isoformat(), starts="18:00", ends="19:00")
        assert again.status_code == 409
        assert "Ce rendez-vous a été annulé : fixez-en un nouveau." in again.text
        assert "16:00" not in shop.web.get("/pro/agenda").text.split('id="feed-title"')[0]

        shop.web.post(
            "/pro/agenda/calendar-link/revoke",
            data={"csrf": form_token(shop.web.get("/pro/agenda").text)},
        )
        assert stranger.get(path).status_code == 404


def test_a_contact_is_handed_over_with_a_note_and_an_email(shop, session) -> None:
    colleague = person(shop.mine.agency_id, name="Chloé Collègue")
    colleague_id = person_id(session, colleague)

    answer = shop.post(
        f"/pro/contacts/{shop.purchase}/assign",
        person_id=str(colleague_id),
        note="Elle connaît le quartier",
    )

    assert "Contact confié" in answer.text
    assert "Suivi par Chloé Collègue" in answer.text
    assert "Chloé Collègue — Elle connaît le quartier" in answer.text
    mail = session.execute(
        text("SELECT recipient, payload->>'text' FROM outbox WHERE event = 'contact.assigned'")
    ).one()
    assert mail[0] == colleague
    assert f"/pro/contacts/{shop.purchase}" in mail[1]
    assert "avec une note" in mail[1]
    assert "quartier" not in mail[1]  # the note stays on the page
    outsider = person(shop.theirs.agency_id)
    refused = shop.post(
        f"/pro/contacts/{shop.purchase}/assign", person_id=str(person_id(session, outsider))
    )
    assert refused.status_code == 422
    assert session.execute(text("SELECT assigned_to FROM purchase")).scalar_one() == colleague_id


def test_a_refund_is_asked_from_the_contact_page_with_the_logged_calls(shop, session) -> None:
    page = shop.web.get(f"/pro/contacts/{shop.purchase}").text
    assert re.search(r"Vous pouvez le demander encore 6 j 23 h", page)

    early = shop.post(f"/pro/contacts/{shop.purchase}/refund", reason="unreachable")
    assert early.status_code == 422  # no call logged: nothing proves the attempts
    assert 'id="reason"' in early.text
    assert session.execute(text("SELECT count(*) FROM refund_request")).scalar_one() == 0

    shop.post(f"/pro/contacts/{shop.purchase}/interactions", kind="call")
    asked = shop.post(f"/pro/contacts/{shop.purchase}/refund", reason="unreachable")

    assert "Remboursement demandé" in asked.text
    assert "une décision de Mandat" in asked.text
    request = session.execute(
        text("SELECT reason, status, jsonb_array_length(call_attempts) FROM refund_request")
    ).one()
    assert tuple(request) == ("unreachable", "pending", 1)
    again = shop.post(f"/pro/contacts/{shop.purchase}/refund", reason="fake")
    assert again.status_code == 409


def test_the_contact_page_shows_the_consent_receipt_and_why_the_agency_could_buy(shop) -> None:
    page = shop.web.get(f"/pro/contacts/{shop.purchase}").text
    consent = page.split('id="consent"')[1].split("</section>")[0]
    assert "consent-2026-11-fr" in consent
    assert "(votre agence)" in consent
    assert consent.count("a coché") + consent.count("déclaré") == 2  # both agencies ticked
    allocation = page.split('id="allocation"')[1].split("</section>")[0]
    assert re.search(r"Votre agence était la n° [12] des 2 agences proposées", allocation), (
        allocation
    )
    assert "dans votre zone" in allocation
    assert "en exclusivité" in allocation
    english = shop.web.get(f"/pro/contacts/{shop.purchase}?lang=en").text
    assert "Why your agency could buy it" in english
    assert "Consent receipt" in english


def test_the_board_moves_a_contact_and_a_viewer_can_only_look(clean_db, shop, session) -> None:
    shop.post(f"/pro/contacts/{shop.purchase}/interactions", kind="note", body="Vu en vitrine")
    shop.post(
        f"/pro/contacts/{shop.purchase}/reminders",
        due_date="2030-01-01",
        due_time="09:00",
        note="Relancer",
    )
    shop.post(f"/pro/contacts/{shop.purchase}/appointments", day="2030-01-02", starts="10:00")
    entry, reminder, appointment = session.execute(
        text("""SELECT (SELECT id FROM contact_interaction), (SELECT id FROM contact_reminder),
                       (SELECT id FROM appointment)""")
    ).one()
    session.commit()
    board = shop.web.get("/pro/board").text
    column = board.split('data-stage="appointment"')[1].split("</section>")[0]
    assert f'id="card-{shop.purchase}"' in column  # its appointment moved it on

    moved = shop.web.post(
        f"/pro/board/{shop.purchase}",
        data={"pipeline_status": "mandate_signed", "csrf": form_token(board)},
    )

    assert "Contact déplacé" in moved.text
    signed = moved.text.split('data-stage="mandate_signed"')[1].split("</section>")[0]
    assert f'id="card-{shop.purchase}"' in signed
    with browser(clean_db) as viewer:
        sign_in(viewer, person(shop.mine.agency_id, role="viewer"))
        seen = viewer.get("/pro/board").text
        assert f'id="card-{shop.purchase}"' in seen
        assert "/pro/board/" not in seen
        assert "board.js" not in seen
        contact = viewer.get(f"/pro/contacts/{shop.purchase}").text
        for form in ("/interactions", "/reminders", "/appointments", "/assign", "/refund"):
            assert f'action="/pro/contacts/{shop.purchase}{form}' not in contact
        token = form_token(seen)
        on = f"/pro/contacts/{shop.purchase}"
        edits = {
            f"{on}/interactions/{entry}": {"kind": "call", "body": "x"},
            f"{on}/interactions/{entry}/delete": {},
            f"{on}/reminders/{reminder}": {
                "due_date": "2031-01-01",
                "due_time": "08:00",
                "note": "x",
            },
            f"{on}/reminders/{reminder}/delete": {},
            f"{on}/appointments/{appointment}": {"day": "2031-01-01", "starts": "08:00"},
            f"{on}/appointments/{appointment}/cancel": {},
        }
        refused = {
            url: viewer.post(url, data={**data, "csrf": token}) for url, data in edits.items()
        }
        assert {u: a.status_code for u, a in refused.items()} == dict.fromkeys(edits, 403)
        forged = [
            viewer.post(
                f"/pro/board/{shop.purchase}", data={"pipeline_status": "lost", "csrf": token}
            ),
            viewer.post(
                f"/pro/contacts/{shop.purchase}/interactions", data={"kind": "call", "csrf": token}
            ),
            viewer.post(
                f"/pro/contacts/{shop.purchase}/reminders",
                data={"due_date": "2030-01-01", "due_time": "09:00", "note": "x", "csrf": token},
            ),
            viewer.post(
                f"/pro/contacts/{shop.purchase}/appointments",
                data={"day": "2030-01-01", "starts": "09:00", "csrf": token},
            ),
            viewer.post(
                f"/pro/contacts/{shop.purchase}/refund", data={"reason": "fake", "csrf": token}
            ),
        ]
        assert [f.status_code for f in forged] == [403] * len(forged)
    writes = session.execute(
        text("""SELECT (SELECT string_agg(kind || body, ',') FROM contact_interaction),
                (SELECT string_agg(note, ',') FROM contact_reminder),
                (SELECT string_agg(sequence || ':' || (cancelled_at IS NULL), ',')
                 FROM appointment),
                (SELECT count(*) FROM refund_request), (SELECT pipeline_status FROM purchase)""")
    ).one()
    assert tuple(writes) == ("noteVu en vitrine", "Relancer", "0:true", 0, "mandate_signed")


def test_another_agencys_person_finds_nothing_on_any_page_with_an_id(
    clean_db, shop, session
) -> None:
    shop.post(
        f"/pro/contacts/{shop.purchase}/reminders",
        due_date="2030-01-01",
        due_time="09:00",
        note="Relancer",
    )
    shop.post(f"/pro/contacts/{shop.purchase}/appointments", day="2030-01-02", starts="10:00")
    shop.post(f"/pro/contacts/{shop.purchase}/interactions", kind="call", body="Messagerie")
    reminder = session.execute(text("SELECT id FROM contact_reminder")).scalar_one()
    appointment = session.execute(text("SELECT id FROM appointment")).scalar_one()
    entry = session.execute(
        text("SELECT id FROM contact_interaction WHERE kind = 'call'")
    ).scalar_one()
    before = session.execute(
        text(
            "SELECT md5(string_agg(t::text, ',')) FROM (SELECT * FROM purchase UNION ALL "
            "SELECT p.* FROM purchase p) t"
        )
    ).scalar_one()
    p = shop.purchase
    with browser(clean_db) as rival:
        sign_in(rival, person(shop.theirs.agency_id, role="owner"))
        token = form_token(rival.get("/pro/leads").text)
        answers = {
            "contact": rival.get(f"/pro/contacts/{p}"),
            "ics": rival.get(f"/pro/contacts/{p}/appointments/{appointment}/calendar.ics"),
            "log": rival.post(
                f"/pro/contacts/{p}/interactions", data={"kind": "call", "csrf": token}
            ),
            "remind": rival.post(
                f"/pro/contacts/{p}/reminders",
                data={"due_date": "2030-01-01", "due_time": "09:00", "note": "x", "csrf": token},
            ),
            "appoint": rival.post(
                f"/pro/contacts/{p}/appointments",
                data={"day": "2030-01-01", "starts": "09:00", "csrf": token},
            ),
            "assign": rival.post(
                f"/pro/contacts/{p}/assign", data={"person_id": str(uuid.uuid4()), "csrf": token}
            ),
            "refund": rival.post(
                f"/pro/contacts/{p}/refund", data={"reason": "fake", "csrf": token}
            ),
            "move": rival.post(f"/pro/board/{p}", data={"pipeline_status": "lost", "csrf": token}),
            "done": rival.post(
                f"/pro/reminders/{reminder}/done", data={"done": "1", "csrf": token}
            ),
            "edit reminder": rival.post(
                f"/pro/contacts/{p}/reminders/{reminder}",
                data={"due_date": "2031-01-01", "due_time": "09:00", "note": "x", "csrf": token},
            ),
            "delete reminder": rival.post(
                f"/pro/contacts/{p}/reminders/{reminder}/delete", data={"csrf": token}
            ),
            "reschedule": rival.post(
                f"/pro/contacts/{p}/appointments/{appointment}",
                data={"day": "2031-01-01", "starts": "09:00", "csrf": token},
            ),
            "cancel": rival.post(
                f"/pro/contacts/{p}/appointments/{appointment}/cancel", data={"csrf": token}
            ),
            "correct": rival.post(
                f"/pro/contacts/{p}/interactions/{entry}",
                data={"kind": "note", "body": "x", "csrf": token},
            ),
            "delete entry": rival.post(
                f"/pro/contacts/{p}/interactions/{entry}/delete", data={"csrf": token}
            ),
        }
        assert {k: a.status_code for k, a in answers.items()} == dict.fromkeys(answers, 404)
        assert all("Jeanne" not in a.text for a in answers.values())
        assert f"card-{p}" not in rival.get("/pro/board").text
        assert "Relancer" not in rival.get("/pro/agenda").text
    after = session.execute(
        text(
            "SELECT md5(string_agg(t::text, ',')) FROM (SELECT * FROM purchase UNION ALL "
            "SELECT p.* FROM purchase p) t"
        )
    ).scalar_one()
    assert after == before
    assert session.execute(
        text("SELECT string_agg(kind || body, ',') FROM contact_interaction "
             "WHERE kind <> 'assigned'")
    ).scalar_one() == "callMessagerie"  # fmt: skip
    assert tuple(
        session.execute(
            text("""SELECT r.done_at, r.note, a.sequence, a.cancelled_at
                    FROM contact_reminder r, appointment a""")
        ).one()
    ) == (None, "Relancer", 0, None)


def test_the_api_logs_and_reads_the_timeline_and_sets_reminders(client, session) -> None:
    (agency,) = buyers(session, 1)
    lead = offered_lead(session)
    price = client.get(f"/api/v1/leads/{lead}", headers=agency.headers).json()["price_cents"]
    purchase = client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=agency.headers,
    ).json()["purchase_id"]
    logged = client.post(
        f"/api/v1/purchases/{purchase}/interactions",
        json={"kind": "email", "body": "Envoyé la plaquette"},
        headers=agency.headers,
    )
    assert logged.status_code == 201, logged.text
    assert logged.json()["by"] is None
    listed = client.get(f"/api/v1/purchases/{purchase}/interactions", headers=agency.headers)
    assert [i["kind"] for i in listed.json()] == ["email"]
    bad = client.post(
        f"/api/v1/purchases/{purchase}/interactions", json={"kind": "fax"}, headers=agency.headers
    )
    assert bad.status_code == 422
    nobody = client.post(
        f"/api/v1/purchases/{purchase}/reminders",
        json={"due_at": "2030-01-01T09:00:00+01:00", "note": "Relancer"},
        headers=agency.headers,
    )
    assert nobody.status_code == 422
    assert nobody.json()["errors"][0]["path"] == "person_id"
    who = person_id(session, person(agency.agency_id))
    reminder = client.post(
        f"/api/v1/purchases/{purchase}/reminders",
        json={"due_at": "2030-01-01T09:00:00+01:00", "note": "Relancer", "person_id": str(who)},
        headers=agency.headers,
    )
    assert reminder.status_code == 201, reminder.text
    assert reminder.json()["person_id"] == str(who)
    assert session.execute(text("SELECT first_contact_at IS NOT NULL FROM purchase")).scalar_one()


def test_the_team_page_shows_each_persons_speed_to_first_contact(clean_db, shop, session) -> None:
    session.execute(text("UPDATE purchase SET created_at = created_at - interval '12 minutes'"))
    session.commit()
    shop.post(f"/pro/contacts/{shop.purchase}/interactions", kind="call")
    owner = person(shop.mine.agency_id, role="owner", name="Odile Owner")
    with browser(clean_db) as web:
        sign_in(web, owner)
        team = web.get("/pro/team").text
    row = next(r for r in team.split("<tr>") if "Bruno Buyer" in r)
    assert re.search(r">1[23] min <span class=\"muted\">\(médiane de 1 contact\)", row), row
    assert "aujourd" in row.lower() or datetime.now(PARIS).strftime("%Y") in row
