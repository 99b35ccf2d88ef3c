"""Security review F19: an owner rotates the webhook secret without losing an event (both
signatures for a day), only the owner reads the webhook, and staff reads of a lead's personal
data are audited."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from engine.notify.deliver import deliver_due
from tests.conftest import issue_key
from tests.e2e.test_refunds import finance
from tests.market import buyers, offered_lead
from tests.receivers import Receiver


@pytest.fixture
def receiver(monkeypatch) -> Iterator[Receiver]:
    monkeypatch.setenv("MANDAT_ALLOW_LOCAL_WEBHOOKS", "1")
    r = Receiver()
    yield r
    r.close()


def macs(header: str, body: bytes, *secrets: str) -> tuple[list[str], list[str]]:
    """(the v1 values the header carries, the ones each secret makes)."""
    timestamp = header.split(",")[0].removeprefix("t=")
    sent = [part.removeprefix("v1=") for part in header.split(",")[1:]]
    made = [
        hmac.new(s.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        for s in secrets
    ]
    return sent, made


def test_a_rotated_secret_signs_beside_the_old_one_for_a_day(client, session, receiver) -> None:
    (owner,) = buyers(session, 1, role="owner")
    session.execute(
        text("UPDATE agency SET webhook_url = :u WHERE id = :a"),
        {"u": receiver.url(), "a": owner.agency_id},
    )
    session.commit()
    old = client.get("/api/v1/agency/webhook", headers=owner.headers).json()

    rotated = client.post("/api/v1/agency/webhook/secret", headers=owner.headers)

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["secret"] != old["secret"]
    assert new["previous_secret_until"]
    assert client.get("/api/v1/agency/webhook", headers=owner.headers).json() == new
    offered_lead(session, consent_to=[owner])
    session.commit()
    deliver_due(datetime.now(UTC))
    headers, body = receiver.requests[-1]
    sent, made = macs(headers["Mandat-Signature"], body, new["secret"], old["secret"])
    assert sent == made  # the new secret's first, the old one's second

    # The day is over: the old secret signs no more.
    session.execute(
        text("UPDATE agency SET previous_webhook_secret_until = now() WHERE id = :a"),
        {"a": owner.agency_id},
    )
    session.commit()
    offered_lead(session, consent_to=[owner])
    session.commit()
    deliver_due(datetime.now(UTC))
    headers, body = receiver.requests[-1]
    sent, made = macs(headers["Mandat-Signature"], body, new["secret"])
    assert sent == made
    audit = session.execute(
        text("SELECT count(*) FROM audit_log WHERE action = 'agency.webhook_secret_rotated'")
    ).scalar_one()
    assert audit == 1


def test_only_the_owner_rotates_the_secret_or_reads_the_webhook_url(client, session) -> None:
    (owner,) = buyers(session, 1, role="owner")
    (buyer,) = buyers(session, 1)
    viewer_agency = owner.agency_id
    session.execute(
        text(
            "UPDATE agency SET webhook_url = 'https://crm.agence.fr/h?token=s3cr3t' WHERE id = :a"
        ),
        {"a": viewer_agency},
    )
    session.commit()
    viewer = {"Authorization": f"Bearer {issue_key('viewer', viewer_agency)}"}

    refused = client.post("/api/v1/agency/webhook/secret", headers=viewer)
    as_viewer = client.get("/api/v1/agency", headers=viewer).json()
    as_owner = client.get("/api/v1/agency", headers=owner.headers).json()

    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden_role"
    assert as_viewer["webhook_url"] is None
    assert as_owner["webhook_url"] == "https://crm.agence.fr/h?token=s3cr3t"
    assert client.post("/api/v1/agency/webhook/secret", headers=buyer.headers).status_code == 403


def test_a_staff_read_of_a_lead_is_audited(client, session) -> None:
    buyers(session, 1)
    lead = offered_lead(session)
    session.commit()

    read = client.get(f"/api/v1/admin/leads/{lead}", headers=finance())

    assert read.status_code == 200
    row = session.execute(
        text("SELECT actor_role, subject_id FROM audit_log WHERE action = 'lead.read_by_staff'")
    ).one()
    assert tuple(row) == ("finance", str(lead))
