"""Invariants that concurrent requests could break, over real HTTP against two server workers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import text

from tests.conftest import issue_key
from tests.helpers import add_agency


def test_twenty_simultaneous_registrations_of_one_siret_create_one_agency(
    live_server: str, session
) -> None:
    headers = {"Authorization": f"Bearer {issue_key('admin')}"}
    body = {
        "name": "Agence Simultanée",
        "siret": "73282932000074",
        "email": "a@exemple.fr",
        "office": {"postal_code": "35000", "city": "Rennes"},
    }

    def register(_: int) -> httpx.Response:
        return httpx.post(f"{live_server}/api/v1/agencies", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(register, range(20)))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 19
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"siret_taken"}
    assert session.execute(text("SELECT count(*) FROM agency")).scalar_one() == 1


def test_keys_issued_concurrently_are_all_distinct_and_all_work(live_server: str, session) -> None:
    admin = {"Authorization": f"Bearer {issue_key('admin')}"}
    agency = httpx.post(
        f"{live_server}/api/v1/agencies",
        headers=admin,
        timeout=30,
        json={
            "name": "Agence Clés",
            "siret": "73282932000074",
            "email": "a@exemple.fr",
            "office": {"postal_code": "35000", "city": "Rennes"},
        },
    ).json()

    def issue(_: int) -> str:
        answer = httpx.post(
            f"{live_server}/api/v1/agencies/{agency['id']}/api-keys",
            json={"role": "buyer"},
            headers=admin,
            timeout=30,
        )
        return answer.json()["key"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        keys = list(pool.map(issue, range(10)))

    assert len(set(keys)) == 10
    for key in keys:
        own = httpx.get(
            f"{live_server}/api/v1/agency", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        assert own.json()["id"] == agency["id"]


def _estimations(live_server: str, session, count: int, address: dict[str, str]) -> list[str]:  # type: ignore[no-untyped-def]
    """`count` answered step 1s, a minute old (past the time trap)."""
    ids = []
    for _ in range(count):
        answer = httpx.post(
            f"{live_server}/api/v1/estimations",
            json={"property": {"type": "maison", "surface_m2": 90, "rooms": 4}, "address": address},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    session.execute(text("UPDATE estimation SET created_at = created_at - interval '1 minute'"))
    session.commit()
    return ids


def _lead(agency_id: str, email: str, phone: str) -> dict[str, object]:
    return {
        "contact": {"first_name": "Jean", "last_name": "Dupont", "email": email, "phone": phone},
        "project": {"timeline": "lt_3_months", "is_owner": True},
        "consent": {"agency_ids": [agency_id], "text_version": "consent-2026-11-fr"},
        "website": "",
    }


def _submit_all(live_server: str, jobs: list[tuple[str, dict[str, object], str]]) -> list[str]:
    def submit(job: tuple[str, dict[str, object], str]) -> str:
        estimation_id, body, ip = job
        answer = httpx.post(
            f"{live_server}/api/v1/estimations/{estimation_id}/lead",
            json=body,
            headers={"X-Forwarded-For": ip},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "received"
        return str(answer.json()["lead_id"])

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(submit, jobs))


def test_ten_simultaneous_submits_of_one_email_make_one_lead_and_nine_duplicates(
    live_server: str, session
) -> None:
    agency = str(add_agency(session, -1.68, 48.11))
    session.commit()
    estimations = _estimations(live_server, session, 10, {"postal_code": "35000", "city": "Rennes"})
    # One person, different phones each time, and each from its own address: only the e-mail
    # ties them together (its lock in engine/intake/duplicates.py; the exclusion constraint
    # behind it). Without that lock, some of the ten deadlocked in the constraint: a 503.
    jobs = [
        (
            e,
            _lead(agency, f"Jean.Dupont@{'EXEMPLE' if n % 2 else 'exemple'}.fr", f"078100{n:04d}"),
            f"203.0.113.{n + 1}",
        )
        for n, e in enumerate(estimations)
    ]

    # Hold the commune row: the first insert then waits on its foreign-key check, after its
    # duplicate lookup found nothing, while the nine others are all in flight — ten submits truly
    # racing to be the original.
    with ThreadPoolExecutor(max_workers=1) as runner:
        session.execute(text("SELECT 1 FROM commune WHERE code = '35238' FOR UPDATE"))
        racing = runner.submit(_submit_all, live_server, jobs)
        time.sleep(1.5)
        session.commit()
        leads = racing.result()

    rows = session.execute(
        text("SELECT id::text, status, duplicate_of::text FROM lead WHERE id::text = ANY(:ids)"),
        {"ids": leads},
    ).all()
    originals = [r.id for r in rows if r.status == "qualified"]
    assert len(originals) == 1
    assert (
        sorted((r.status, r.duplicate_of) for r in rows if r.status != "qualified")
        == [("duplicate", originals[0])] * 9
    )


def test_one_address_gets_ten_leads_an_hour_across_server_processes(
    live_server: str, session
) -> None:
    agency = str(add_agency(session, -1.68, 48.11))
    session.commit()
    estimations = _estimations(live_server, session, 14, {"postal_code": "35000", "city": "Rennes"})
    jobs = [
        (e, _lead(agency, f"p{n}@exemple.fr", f"06120{n:05d}"), "198.51.100.7")
        for n, e in enumerate(estimations[:12])
    ] + [
        (e, _lead(agency, f"q{n}@exemple.fr", f"06130{n:05d}"), "198.51.100.8")
        for n, e in enumerate(estimations[12:])
    ]

    leads = _submit_all(live_server, jobs)

    rows = session.execute(
        text("""
            SELECT host(client_ip) AS ip, status, quarantine_reasons FROM lead
            WHERE id::text = ANY(:ids)
        """),
        {"ids": leads},
    ).all()
    first = [r for r in rows if r.ip == "198.51.100.7"]
    assert sum(r.status == "qualified" for r in first) == 10
    assert (
        sorted(r.quarantine_reasons for r in first if r.status == "quarantined")
        == [["ip_rate"]] * 2
    )
    assert all(r.status == "qualified" for r in rows if r.ip == "198.51.100.8")


def test_one_phone_gets_three_leads_a_day_across_server_processes(
    live_server: str, session
) -> None:
    places = [
        {"postal_code": "35000", "city": "Rennes"},
        {"postal_code": "35510", "city": "Cesson-Sévigné"},
        {"postal_code": "35170", "city": "Bruz"},
        {"postal_code": "35760", "city": "Saint-Grégoire"},
        {"postal_code": "35135", "city": "Chantepie"},
        {"postal_code": "35830", "city": "Betton"},
    ]
    agency = str(add_agency(session, -1.68, 48.11))
    session.commit()
    estimations = [_estimations(live_server, session, 1, p)[0] for p in places]
    jobs = [
        (e, _lead(agency, f"r{n}@exemple.fr", "06 99 88 77 66"), f"192.0.2.{n + 1}")
        for n, e in enumerate(estimations)
    ]

    leads = _submit_all(live_server, jobs)

    statuses = session.execute(
        text("SELECT status FROM lead WHERE id::text = ANY(:ids)"), {"ids": leads}
    ).scalars()
    assert sorted(statuses) == ["qualified"] * 3 + ["quarantined"] * 3
