"""Invariants that concurrent requests could break, over real HTTP against two server workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import text

from tests.conftest import issue_key


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
