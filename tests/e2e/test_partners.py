"""Who may frame the form (issue 12, F3): admins register partners and their origins, audited;
the form page's `frame-ancestors` lists the partner's origins only, and an unknown or missing
slug is framed by Mandat's own pages only; step 1 records the slug and the embedding origin."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import issue_key
from tests.helpers import add_sale
from tests.market import buyers

PARTNER: dict[str, Any] = {
    "slug": "immo-partenaire",
    "name": "Immo Partenaire",
    "allowed_origins": ["https://www.immo-partenaire.fr", "https://Estimer.Immo-Partenaire.fr/"],
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def frame_ancestors(client, source: str | None) -> str:  # type: ignore[no-untyped-def]
    url = "/forms/estimation" + (f"?source={source}" if source is not None else "")
    policy = client.get(url).headers["content-security-policy"]
    (directive,) = [d.strip() for d in policy.split(";") if "frame-ancestors" in d]
    return directive


def test_F3_before_any_partner_the_form_is_framed_by_mandat_s_own_pages_only(client) -> None:
    assert frame_ancestors(client, None) == "frame-ancestors 'self'"
    assert frame_ancestors(client, "immo-partenaire") == "frame-ancestors 'self'"
    assert frame_ancestors(client, "") == "frame-ancestors 'self'"
    assert frame_ancestors(client, "x; script-src *") == "frame-ancestors 'self'"


def test_F3_a_registered_partner_s_origins_alone_may_frame_its_form(client, session) -> None:
    admin = auth(issue_key("admin"))

    registered = client.post("/api/v1/admin/partners", json=PARTNER, headers=admin)

    assert registered.status_code == 201, registered.text
    origins = ["https://www.immo-partenaire.fr", "https://estimer.immo-partenaire.fr"]
    assert registered.json()["allowed_origins"] == origins
    assert frame_ancestors(client, "immo-partenaire") == f"frame-ancestors {' '.join(origins)}"
    assert frame_ancestors(client, "autre-site") == "frame-ancestors 'self'"
    assert [p["slug"] for p in client.get("/api/v1/admin/partners", headers=admin).json()] == [
        "immo-partenaire"
    ]

    changed = client.patch(
        "/api/v1/admin/partners/immo-partenaire",
        json={"allowed_origins": ["https://nouveau.immo-partenaire.fr"]},
        headers=admin,
    )

    assert changed.status_code == 200, changed.text
    assert frame_ancestors(client, "immo-partenaire") == (
        "frame-ancestors https://nouveau.immo-partenaire.fr"
    )
    audit = session.execute(
        text(
            "SELECT action, subject_id, actor_role, details->'allowed_origins' FROM audit_log"
            " WHERE subject_type = 'partner' ORDER BY id"
        )
    ).all()
    assert [tuple(a) for a in audit] == [
        ("partner.registered", "immo-partenaire", "admin", origins),
        ("partner.changed", "immo-partenaire", "admin", ["https://nouveau.immo-partenaire.fr"]),
    ]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"slug": "Immo Partenaire"}, "slug"),
        ({"slug": ""}, "slug"),
        ({"name": ""}, "name"),
        ({"allowed_origins": []}, "allowed_origins"),
        ({"allowed_origins": ["http://www.immo-partenaire.fr"]}, "allowed_origins[0]"),
        ({"allowed_origins": ["https://*.immo-partenaire.fr"]}, "allowed_origins[0]"),
        ({"allowed_origins": ["https://immo-partenaire.fr/estimer"]}, "allowed_origins[0]"),
        ({"allowed_origins": ["*"]}, "allowed_origins[0]"),
        ({"allowed_origins": ["https://a.fr; script-src *"]}, "allowed_origins[0]"),
        ({"allowed_origins": ["https://ok.fr", "https://a.fr:99999"]}, "allowed_origins[1]"),
        ({"allowed_origins": ["https://user@a.fr"]}, "allowed_origins[0]"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_F3_a_wrong_partner_is_a_422_at_its_field_and_registers_nothing(
    client, session, change: dict[str, Any], path: str
) -> None:
    answer = client.post(
        "/api/v1/admin/partners", json={**PARTNER, **change}, headers=auth(issue_key("admin"))
    )

    assert answer.status_code == 422, answer.text
    assert path in [e["path"] for e in answer.json()["errors"]]
    assert session.execute(text("SELECT count(*) FROM partner")).scalar() == 0
    assert frame_ancestors(client, PARTNER["slug"]) == "frame-ancestors 'self'"


def test_F3_a_taken_slug_is_a_409_and_an_unknown_one_a_404(client) -> None:
    admin = auth(issue_key("admin"))
    assert client.post("/api/v1/admin/partners", json=PARTNER, headers=admin).status_code == 201

    again = client.post("/api/v1/admin/partners", json=PARTNER, headers=admin)
    unknown = client.patch("/api/v1/admin/partners/nobody", json={"name": "X"}, headers=admin)

    assert (again.status_code, again.json()["code"]) == (409, "partner_exists")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "partner_not_found")


def test_F3_only_admins_register_or_change_partners(client, session) -> None:
    (owner,) = buyers(session, 1, role="owner")
    callers = {
        "finance": auth(issue_key("finance")),
        "owner": owner.headers,
        "buyer": auth(issue_key("buyer", owner.agency_id)),
        "viewer": auth(issue_key("viewer", owner.agency_id)),
    }
    admin = auth(issue_key("admin"))
    client.post("/api/v1/admin/partners", json=PARTNER, headers=admin)

    for role, headers in callers.items():
        hijack = {**PARTNER, "slug": f"x-{role}", "allowed_origins": ["https://evil.example"]}
        registered = client.post("/api/v1/admin/partners", json=hijack, headers=headers)
        changed = client.patch(
            "/api/v1/admin/partners/immo-partenaire",
            json={"allowed_origins": ["https://evil.example"]},
            headers=headers,
        )
        assert (registered.status_code, changed.status_code) == (403, 403), role
    assert client.post("/api/v1/admin/partners", json=PARTNER).status_code == 401
    assert "evil" not in frame_ancestors(client, "immo-partenaire")
    assert session.execute(text("SELECT count(*) FROM partner")).scalar() == 1


def test_F3_the_estimation_records_its_source_and_the_embedding_origin(client, session) -> None:
    add_sale(session, -1.6749, 48.0931, 3_500, sold_on=date.today())
    session.commit()
    body = {
        "property": {"type": "appartement", "surface_m2": 65, "rooms": 3},
        "address": {"postal_code": "35000", "city": "Rennes"},
        "source": "immo-partenaire",
        "embedding_origin": "https://WWW.immo-partenaire.fr",
    }

    made = client.post("/api/v1/estimations", json=body)
    wrong = client.post(
        "/api/v1/estimations", json={**body, "embedding_origin": "javascript:alert(1)"}
    )

    assert made.status_code == 201, made.text
    assert (wrong.status_code, wrong.json()["errors"][0]["path"]) == (422, "embedding_origin")
    stored = session.execute(text("SELECT source, embedding_origin FROM estimation")).all()
    assert [tuple(s) for s in stored] == [("immo-partenaire", "https://www.immo-partenaire.fr")]
