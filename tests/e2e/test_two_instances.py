"""Two `mandat serve` and two `mandat scheduler` processes on one database behave as one: the
form's per-address limit, a purchase's idempotency and Espace Pro's sign-in throttle hold
across the servers, one scheduler runs the jobs while the other waits, and it takes over —
nothing mailed twice."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import text

from tests.helpers import add_agency
from tests.market import Buyer, buyers, offered_lead
from tests.pro import PASSWORD, form_token, person
from tests.processes import Scheduler, process_env, served, smtp_relay


def step1(base: str) -> str:
    answer = httpx.post(
        f"{base}/api/v1/estimations",
        json={
            "property": {"type": "maison", "surface_m2": 90, "rooms": 4},
            "address": {"postal_code": "35000", "city": "Rennes"},
        },
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def step2(base: str, estimation: str, agency: str, n: int, ip: str) -> str:
    answer = httpx.post(
        f"{base}/api/v1/estimations/{estimation}/lead",
        json={
            "contact": {
                "first_name": "Jean",
                "last_name": "Dupont",
                "email": f"jean.{n}@exemple.fr",
                "phone": f"06140{n:05d}",
            },
            "project": {"timeline": "lt_3_months", "is_owner": True},
            "consent": {"agency_ids": [agency], "text_version": "consent-2026-11-fr"},
            "website": "",
        },
        headers={"X-Forwarded-For": ip},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["lead_id"])


def purchase(base: str, buyer: Buyer, lead: object, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/leads/{lead}/purchase",
        json=body,
        headers={**buyer.headers, "Idempotency-Key": "one-click"},
        timeout=60,
    )


def sign_in(base: str, email: str, password: str) -> httpx.Response:
    """Espace Pro's sign-in page then its form, as a browser sends them. The pre-session cookie
    is `__Host-` and Secure: carried by hand over this plain-HTTP loopback."""
    page = httpx.get(f"{base}/pro/login")
    cookie = re.search(r"(__Host-mandat_pro_pre=[^;]+)", page.headers["set-cookie"])
    assert cookie, page.headers
    return httpx.post(
        f"{base}/pro/login",
        data={"email": email, "password": password, "csrf": form_token(page.text)},
        headers={"Cookie": cookie.group(1)},
        follow_redirects=False,
    )


def outbox(session, where: str) -> int:  # type: ignore[no-untyped-def]
    """Outbox messages matching `where`, as committed now."""
    session.rollback()
    count: int = session.execute(text(f"SELECT count(*) FROM outbox WHERE {where}")).scalar_one()
    return count


def undelivered(session) -> int:  # type: ignore[no-untyped-def]
    return outbox(session, "delivered_at IS NULL AND gave_up_at IS NULL")


def mails(session) -> int:  # type: ignore[no-untyped-def]
    return outbox(session, "channel = 'email' AND delivered_at IS NOT NULL")


def drained(session, within_s: float = 40) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while undelivered(session) and time.monotonic() < deadline:
        time.sleep(0.5)
    return undelivered(session) == 0


def mailed_once_each(session, mailbox, within_s: float = 40) -> bool:  # type: ignore[no-untyped-def]
    """The relay received exactly the e-mails the outbox marks delivered, once settled (the
    scheduler may still be delivering what its start-up jobs queued)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if drained(session, within_s=1) and len(mailbox.messages) == mails(session):
            return True
        time.sleep(0.5)
    return False


def test_two_servers_and_two_schedulers_behave_as_one(database_url, session) -> None:
    agency = str(add_agency(session, -1.68, 48.11))
    session.commit()
    (buyer,) = buyers(session, 1)
    env = process_env(database_url)
    with (
        smtp_relay() as (mailbox, smtp_url),
        served(env, "server-a", workers=1) as a,
        served(env, "server-b", workers=1) as b,
    ):
        # Twelve homeowners behind one address, their step 2s spread over both servers.
        estimations = [step1((a, b)[n % 2]) for n in range(12)]
        session.execute(text("UPDATE estimation SET created_at = created_at - interval '1 min'"))
        session.commit()
        with ThreadPoolExecutor(max_workers=12) as pool:
            leads = list(
                pool.map(
                    lambda n: step2((a, b)[n % 2], estimations[n], agency, n, "198.51.100.9"),
                    range(12),
                )
            )
        statuses = session.execute(
            text("SELECT status FROM lead WHERE id::text = ANY(:ids)"), {"ids": leads}
        ).scalars()
        assert sorted(statuses) == ["qualified"] * 10 + ["quarantined"] * 2

        # One purchase retried with one Idempotency-Key, 20 times at once on both servers.
        lead = offered_lead(session, consent_to=[buyer])
        price = httpx.get(f"{a}/api/v1/leads/{lead}", headers=buyer.headers).json()
        body = {"mode": "exclusive", "price_cents": price["price_cents"]}
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(
                pool.map(lambda n: purchase((a, b)[n % 2], buyer, lead, body), range(20))
            )
        assert {x.status_code for x in answers} == {201}
        assert len({x.text for x in answers}) == 1
        assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 1

        # Wrong passwords for one account, spread over both servers: the fifth locks it on both.
        email = person(uuid.UUID(agency))
        wrong = [sign_in((a, b)[n % 2], email, "not the password").status_code for n in range(5)]
        assert wrong == [401] * 5
        for server in (a, b):
            refused = sign_in(server, email, PASSWORD)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) > 0

        # Two schedulers: one runs the jobs, the other waits for the lock.
        scheduler_env = {**env, "SMTP_URL": smtp_url}
        first, second = Scheduler(scheduler_env), Scheduler(scheduler_env)
        try:
            deadline = time.monotonic() + 30
            while not (first.running(0) or second.running(0)) and time.monotonic() < deadline:
                time.sleep(0.1)
            running, waiting = (first, second) if first.running(0) else (second, first)
            assert running.running(0), (first.lines, second.lines)
            assert mailed_once_each(session, mailbox)  # each notification once
            assert mails(session) > 10
            assert not waiting.running(0)

            running.stop()
            assert waiting.running(within_s=20)  # it takes over…
            before = mails(session)
            offered_lead(session, consent_to=[buyer])  # …and mails what comes next
            assert mailed_once_each(session, mailbox)
            assert mails(session) > before
        finally:
            try:
                first.stop()
            finally:
                second.stop()
