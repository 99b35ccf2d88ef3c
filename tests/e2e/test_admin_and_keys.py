"""Admins change the rules and the price grid, owners manage their collaborators' keys; each
change is audited and bad input changes nothing."""

from __future__ import annotations

from sqlalchemy import text

from tests.conftest import issue_key
from tests.market import buyers


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_admin_changes_settings_and_each_change_is_audited(client, session) -> None:
    admin = auth(issue_key("admin"))

    before = client.get("/api/v1/settings", headers=admin).json()
    changed = client.patch(
        "/api/v1/settings", json={"shared_cap": 4, "exclusive_window_hours": 12}, headers=admin
    )

    assert before["shared_cap"] == 3
    assert changed.status_code == 200
    assert changed.json()["shared_cap"] == 4
    audit = session.execute(
        text("SELECT subject_id, details FROM audit_log WHERE action = 'setting.changed'")
    ).all()
    assert {r.subject_id: (r.details["old"], r.details["new"]) for r in audit} == {
        "shared_cap": (3, 4),
        "exclusive_window_hours": (24, 12),
    }


def test_bad_settings_change_nothing(client, session) -> None:
    admin = auth(issue_key("admin"))
    for body, path in [
        ({"shared_cap": 0}, "shared_cap"),
        ({"shared_cap": "3"}, "shared_cap"),
        ({"shared_cap": 4, "no_such_rule": 1}, "no_such_rule"),
        ({"extension_steps_km": [50, 30]}, "extension_steps_km"),
        ({"dunning_reminder_days": [3]}, "dunning_reminder_days"),  # the job needs two
        ({"grade_b_min_score": 90}, "grade_b_min_score"),
    ]:
        answer = client.patch("/api/v1/settings", json=body, headers=admin)
        assert answer.status_code == 422, body
        assert path in [e["path"] for e in answer.json()["errors"]]
    assert client.get("/api/v1/settings", headers=admin).json()["shared_cap"] == 3
    assert session.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 0


def test_only_admins_touch_settings_and_the_grid(client, session) -> None:
    (agency,) = buyers(session, 1, role="owner")
    finance = auth(issue_key("finance"))
    for headers in (agency.headers, finance):
        assert client.get("/api/v1/settings", headers=headers).status_code == 403
        assert client.patch("/api/v1/settings", json={}, headers=headers).status_code == 403
        assert client.put("/api/v1/price-grid", json={}, headers=headers).status_code == 403
    assert client.get("/api/v1/price-grid", headers=finance).status_code == 200


def test_an_admin_publishes_a_new_price_grid(client, session) -> None:
    admin = auth(issue_key("admin"))
    grid = client.get("/api/v1/price-grid", headers=admin).json()
    rules = grid["rules"]
    rules["base_cents"]["shared"] = 3_500

    published = client.put("/api/v1/price-grid", json=rules, headers=admin)

    assert published.status_code == 200
    assert published.json()["version"] == grid["version"] + 1
    assert client.get("/api/v1/price-grid", headers=admin).json()["rules"]["base_cents"] == {
        "exclusive": 8_000,
        "shared": 3_500,
    }
    assert (
        session.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'price_grid.published'")
        ).scalar_one()
        == 1
    )


def test_an_unfit_price_grid_is_refused(client, session) -> None:
    admin = auth(issue_key("admin"))
    rules = client.get("/api/v1/price-grid", headers=admin).json()["rules"]
    broken = [
        {**rules, "base_cents": {"exclusive": 1_000, "shared": 3_000}},
        {**rules, "grade_factors": {"A": "0.5", "B": "1.0", "C": "0.7"}},
        {**rules, "bands": [{"below_eur": "cheap", "factor": "1"}]},
        {k: v for k, v in rules.items() if k != "floor_cents"},
    ]
    for body in broken:
        answer = client.put("/api/v1/price-grid", json=body, headers=admin)
        assert answer.status_code == 422, body
    assert session.execute(text("SELECT count(*) FROM price_grid")).scalar_one() == 1


def test_an_owner_lists_and_revokes_keys(client, session) -> None:
    owner, other = buyers(session, 2, role="owner")
    buyer_key = issue_key("buyer", owner.agency_id)
    listed = client.get("/api/v1/agency/api-keys", headers=owner.headers).json()
    assert sorted(k["role"] for k in listed) == ["buyer", "owner"]
    assert all("key" not in k and "secret" not in str(k) for k in listed)
    buyer_id = next(k["id"] for k in listed if k["role"] == "buyer")
    assert client.get("/api/v1/agency", headers=auth(buyer_key)).status_code == 200

    # Another agency's owner does not even learn the key exists.
    refused = client.delete(f"/api/v1/agency/api-keys/{buyer_id}", headers=other.headers)
    assert refused.status_code == 404
    assert client.get("/api/v1/agency/api-keys", headers=auth(buyer_key)).status_code == 403
    revoked = client.delete(f"/api/v1/agency/api-keys/{buyer_id}", headers=owner.headers)

    assert revoked.status_code == 204
    assert client.get("/api/v1/agency", headers=auth(buyer_key)).status_code == 401
    actions = session.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars().all()
    assert actions == ["api_key.revoked"]
