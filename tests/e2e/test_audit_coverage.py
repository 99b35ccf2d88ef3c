"""Every action the audit log must hold — contact reveals, exports, erasures, consent
withdrawals, refund decisions, price and settings changes, agency, role and key changes — done
once each, over HTTP or the command line: the log gains exactly the expected entries (action,
object, who), readable by staff, and never the homeowner's personal data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from engine.privacy.links import make_token
from mandat.cli import main as cli
from tests.conftest import issue_key
from tests.market import Buyer, buyers, offered_lead

Entry = tuple[str, str, str | None]  # action, subject id, actor role


@dataclass
class World:
    client: Any
    session: Any
    owner: Buyer  # the agency's owner key
    buyer: dict[str, str]  # a buyer key of the same agency
    sold: str  # a lead the agency bought
    purchase: str
    unsold: str  # a lead offered to the agency, not bought
    admin: dict[str, str]
    finance: dict[str, str]

    def price(self, lead: str) -> int:
        offer = self.client.get(f"/api/v1/leads/{lead}", headers=self.buyer).json()
        return int(offer["price_cents"])

    def token(self) -> str:
        return make_token(self.sold)  # type: ignore[arg-type]


def world(client, session) -> World:  # type: ignore[no-untyped-def]
    (owner,) = buyers(session, 1, role="owner")
    buyer = {"Authorization": f"Bearer {issue_key('buyer', owner.agency_id)}"}
    sold, unsold = offered_lead(session), offered_lead(session)
    w = World(
        client, session, owner, buyer, str(sold), "", str(unsold),
        {"Authorization": f"Bearer {issue_key('admin')}"},
        {"Authorization": f"Bearer {issue_key('finance')}"},
    )  # fmt: skip
    bought = client.post(
        f"/api/v1/leads/{sold}/purchase",
        json={"mode": "exclusive", "price_cents": w.price(w.sold)},
        headers=buyer,
    )
    assert bought.status_code == 201, bought.text
    w.purchase = bought.json()["purchase_id"]
    return w


def reveal(w: World) -> list[Entry]:
    answer = w.client.post(
        f"/api/v1/leads/{w.unsold}/purchase",
        json={"mode": "exclusive", "price_cents": w.price(w.unsold)},
        headers=w.buyer,
    )
    assert answer.status_code == 201
    return [("contact.revealed", w.unsold, "buyer")]


def export_purchases(w: World) -> list[Entry]:
    assert w.client.get("/api/v1/purchases.csv", headers=w.owner.headers).status_code == 200
    return [("purchases.exported", str(w.owner.agency_id), "owner")]


def export_homeowner(w: World) -> list[Entry]:
    assert w.client.get(f"/api/v1/me/data?token={w.token()}").status_code == 200
    return [("homeowner.exported", w.sold, None)]


def erase_homeowner(w: World) -> list[Entry]:
    assert w.client.delete(f"/api/v1/me/data?token={w.token()}").status_code in (200, 204)
    return [("homeowner.erased", w.sold, None)]


def withdraw_consent(w: World) -> list[Entry]:
    url = f"/api/v1/me/consents/{w.owner.agency_id}/withdraw?token={w.token()}"
    assert w.client.post(url).status_code in (200, 204)
    return [("homeowner.consent_withdrawn", w.sold, None)]


def confirm_contact(w: World) -> list[Entry]:
    url = f"/api/v1/me/contact/confirm?token={make_token(w.sold, 'confirm')}"  # type: ignore[arg-type]
    assert w.client.post(url).status_code == 200
    return [("homeowner.contact_confirmed", w.sold, None)]


def disown_request(w: World) -> list[Entry]:
    url = f"/api/v1/me/contact/not-me?token={make_token(w.sold, 'not_me')}"  # type: ignore[arg-type]
    assert w.client.post(url).status_code == 200
    refund = w.session.execute(text("SELECT id FROM refund_request")).scalar_one()
    return [
        ("refund.requested", str(refund), None),
        ("refund.approved", str(refund), None),
        ("homeowner.disowned", w.sold, None),
    ]


def renew_links(w: World) -> list[Entry]:
    assert w.client.post(f"/api/v1/me/links/renew?token={w.token()}").status_code == 200
    return [("homeowner.links_renewed", w.sold, None)]


def refund_decision(decision: str) -> Callable[[World], list[Entry]]:
    def decide(w: World) -> list[Entry]:
        asked = w.client.post(
            f"/api/v1/purchases/{w.purchase}/refund-requests",
            json={"reason": "not_owner"},
            headers=w.owner.headers,
        )
        request = asked.json()["id"]
        decided = w.client.post(
            f"/api/v1/refund-requests/{request}/decision",
            json={"decision": decision, "note": "Vérifié."},
            headers=w.finance,
        )
        assert decided.status_code == 200, decided.text
        return [
            ("refund.requested", request, "owner"),
            (f"refund.{decision}d" if decision == "approve" else "refund.rejected", request,
             "finance"),
        ]  # fmt: skip

    return decide


def publish_price_grid(w: World) -> list[Entry]:
    grid = w.client.get("/api/v1/price-grid", headers=w.admin).json()
    rules = {**grid["rules"], "floor_cents": grid["rules"]["floor_cents"] + 100}
    published = w.client.put("/api/v1/price-grid", json=rules, headers=w.admin)
    assert published.status_code == 200
    return [("price_grid.published", str(published.json()["version"]), "admin")]


def change_setting(w: World) -> list[Entry]:
    changed = w.client.patch("/api/v1/settings", json={"shared_cap": 4}, headers=w.admin)
    assert changed.status_code == 200
    return [("setting.changed", "shared_cap", "admin")]


def register_and_change_partner(w: World) -> list[Entry]:
    partner = {
        "slug": "immo-partenaire",
        "name": "Immo Partenaire",
        "allowed_origins": ["https://www.immo-partenaire.fr"],
    }
    registered = w.client.post("/api/v1/admin/partners", json=partner, headers=w.admin)
    changed = w.client.patch(
        "/api/v1/admin/partners/immo-partenaire",
        json={"allowed_origins": ["https://estimer.immo-partenaire.fr"]},
        headers=w.admin,
    )
    assert (registered.status_code, changed.status_code) == (201, 200)
    return [
        ("partner.registered", "immo-partenaire", "admin"),
        ("partner.changed", "immo-partenaire", "admin"),
    ]


def create_agency(w: World) -> list[Entry]:
    body = {
        "name": "Agence de la Gare",
        "siret": "73282932000074",
        "email": "contact@gare.fr",
        "office": {"postal_code": "35000", "city": "Rennes"},
    }
    created = w.client.post("/api/v1/agencies", json=body, headers=w.admin)
    assert created.status_code == 201, created.text
    return [("agency.created", created.json()["id"], "admin")]


def change_agency(w: World) -> list[Entry]:
    changed = w.client.patch(
        "/api/v1/agency", json={"monthly_budget_cents": 50_000}, headers=w.owner.headers
    )
    assert changed.status_code == 200
    return [("agency.changed", str(w.owner.agency_id), "owner")]


def issue_agency_key(w: World) -> list[Entry]:
    issued = w.client.post(
        f"/api/v1/agencies/{w.owner.agency_id}/api-keys",
        json={"role": "viewer", "label": "Accueil"},
        headers=w.owner.headers,
    )
    assert issued.status_code == 201
    return [("api_key.issued", issued.json()["id"], "owner")]


def _buyer_key_id(w: World) -> str:
    keys = w.client.get("/api/v1/agency/api-keys", headers=w.owner.headers).json()
    return str(next(k["id"] for k in keys if k["role"] == "buyer"))


def revoke_key(w: World) -> list[Entry]:
    key = _buyer_key_id(w)
    revoked = w.client.delete(f"/api/v1/agency/api-keys/{key}", headers=w.owner.headers)
    assert revoked.status_code == 204
    return [("api_key.revoked", key, "owner")]


def change_role(w: World) -> list[Entry]:
    key = _buyer_key_id(w)
    changed = w.client.patch(
        f"/api/v1/agency/api-keys/{key}", json={"role": "viewer"}, headers=w.owner.headers
    )
    assert changed.status_code == 200, changed.text
    return [("api_key.role_changed", key, "owner")]


def issue_staff_key(w: World) -> list[Entry]:
    done = CliRunner().invoke(cli, ["admin", "create-key", "--role", "finance", "--label", "x"])
    assert done.exit_code == 0, done.output
    key = w.session.execute(
        text("SELECT id FROM api_key WHERE role = 'finance' ORDER BY created_at DESC LIMIT 1")
    ).scalar_one()
    return [("api_key.issued", str(key), None)]


ACTIONS = [
    reveal, export_purchases, export_homeowner, erase_homeowner, withdraw_consent,
    confirm_contact, disown_request, renew_links,
    refund_decision("approve"), refund_decision("reject"), publish_price_grid, change_setting,
    register_and_change_partner, create_agency, change_agency, issue_agency_key, revoke_key,
    change_role, issue_staff_key,
]  # fmt: skip


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.__qualname__.split(".")[0])
def test_each_listed_action_leaves_exactly_its_audit_entries(client, session, action) -> None:
    w = world(client, session)
    session.commit()
    last = session.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()
    contact = session.execute(
        text("SELECT first_name, last_name, email, phone_e164 FROM lead WHERE id = :id"),
        {"id": w.sold},
    ).one()

    expected = action(w)

    session.rollback()
    rows = session.execute(
        text("""SELECT action, subject_id, actor_role, details FROM audit_log
                WHERE id > :last ORDER BY id"""),
        {"last": last},
    ).all()
    assert [(r.action, r.subject_id, r.actor_role) for r in rows] == expected
    read = w.client.get(f"/api/v1/admin/audit?action={expected[-1][0]}", headers=w.admin)
    assert expected[-1][1] in [e["subject_id"] for e in read.json()["items"]]
    logged = str([tuple(r) for r in rows]) + read.text
    for personal in contact:
        assert personal not in logged


def test_a_role_change_holds_from_the_keys_next_request(client, session) -> None:
    w = world(client, session)
    key = _buyer_key_id(w)
    own = next(
        k["id"]
        for k in client.get("/api/v1/agency/api-keys", headers=w.owner.headers).json()
        if k["role"] == "owner"
    )

    changed = client.patch(
        f"/api/v1/agency/api-keys/{key}", json={"role": "viewer"}, headers=w.owner.headers
    )
    refused = client.post(
        f"/api/v1/leads/{w.unsold}/purchase",
        json={"mode": "exclusive", "price_cents": w.price(w.unsold)},
        headers=w.buyer,
    )
    by_buyer = client.patch(
        f"/api/v1/agency/api-keys/{key}", json={"role": "owner"}, headers=w.buyer
    )
    on_own = client.patch(
        f"/api/v1/agency/api-keys/{own}", json={"role": "buyer"}, headers=w.owner.headers
    )
    unknown_role = client.patch(
        f"/api/v1/agency/api-keys/{key}", json={"role": "admin"}, headers=w.owner.headers
    )

    assert changed.json()["role"] == "viewer"
    assert refused.status_code == 403
    assert by_buyer.status_code == 403
    assert (on_own.status_code, on_own.json()["code"]) == (409, "own_key")
    assert unknown_role.status_code == 422
    assert unknown_role.json()["errors"][0]["path"] == "role"
    roles = session.execute(text("SELECT role FROM api_key ORDER BY role")).scalars().all()
    assert roles == ["admin", "finance", "owner", "viewer"]
