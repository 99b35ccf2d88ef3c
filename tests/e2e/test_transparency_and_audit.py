"""The rules in force, published from the live settings; the audit log, read by staff."""

from __future__ import annotations

from sqlalchemy import text

from tests.conftest import issue_key
from tests.market import buyers, offered_lead


def test_transparency_follows_a_settings_change(client, session) -> None:
    admin = {"Authorization": f"Bearer {issue_key('admin')}"}
    before = client.get("/api/v1/transparency").json()

    client.patch("/api/v1/settings", json={"shared_cap": 5, "min_candidates": 4}, headers=admin)
    after = client.get("/api/v1/transparency").json()
    page = client.get("/transparency?lang=en")
    french = client.get("/transparency", headers={"Accept-Language": "fr-FR"})

    assert before["selling"]["shared_cap"] == 3
    assert after["selling"]["shared_cap"] == 5
    assert "up to 5 buyers" in after["selling"]["rule"]
    assert after["allocation"]["min_candidates"] == 4
    assert after["pricing"]["grid_version"] == 1
    assert "no paid priority" in after["ranking"]["rule"]
    assert page.status_code == 200
    assert "up to 5 agencies may buy it" in page.text
    assert "jusqu'à 5 agences peuvent l'acheter" in french.text.replace("&#39;", "'")


def test_staff_read_the_audit_log_and_it_holds_no_personal_data(client, session) -> None:
    (a,) = buyers(session, 1, role="owner")
    lead = offered_lead(session)
    price = client.get(f"/api/v1/leads/{lead}", headers=a.headers).json()["price_cents"]
    client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=a.headers,
    )
    client.get("/api/v1/purchases.csv", headers=a.headers)
    admin = {"Authorization": f"Bearer {issue_key('admin')}"}
    client.patch("/api/v1/settings", json={"offer_days": 20}, headers=admin)

    log = client.get("/api/v1/admin/audit", headers=admin).json()["items"]
    reveals = client.get("/api/v1/admin/audit?action=contact.revealed", headers=admin).json()[
        "items"
    ]

    assert [e["action"] for e in log] == [
        "setting.changed",
        "purchases.exported",
        "contact.revealed",
    ]
    assert [e["subject_id"] for e in reveals] == [str(lead)]
    phone, email = session.execute(text("SELECT phone_e164, email FROM lead")).one()
    assert phone not in str(log)
    assert email not in str(log)
    assert client.get("/api/v1/admin/audit", headers=a.headers).status_code == 403
