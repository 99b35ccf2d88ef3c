"""Agencies as their callers use them (the API, the agency's pages, staff): each service checks
the caller's role, owns its unit of work and writes its audit row.

Another agency's id answers exactly like an unknown one (404), never a 403.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from engine.accounts.keys import (
    IssuedKey,
    Principal,
    change_agency_key_role,
    create_key,
    list_keys,
    revoke_agency_key,
)
from engine.accounts.models import ApiKey
from engine.agencies.profile import (
    AgencyView,
    NewAgency,
    create_agency,
    read_agency_name,
    update_agency,
    view,
)
from engine.audit import record
from engine.db import retried, unit_of_work
from engine.errors import NotFound


@dataclass(frozen=True)
class Webhook:
    url: str | None
    secret: str
    # After a rotation: until when the previous secret still signs too (None: it does not).
    previous_secret_until: datetime | None = None


@retried
def register_agency(caller: Principal, new: NewAgency) -> AgencyView:
    """Admin. The zone is centred on the office, 20 km by default."""
    caller.require("admin")
    with unit_of_work() as session:
        created = create_agency(session, new)
        record(session, caller, "agency.created", "agency", created.id)
        return created


@retried
def read_agency(caller: Principal, agency_id: uuid.UUID) -> AgencyView:
    """Staff, or that agency's own keys."""
    _require_staff_or_own(caller, agency_id)
    with unit_of_work() as session:
        return _as_seen_by(caller, view(session, agency_id))


@retried
def own_agency(caller: Principal) -> AgencyView:
    agency_id = caller.agency()
    with unit_of_work() as session:
        return _as_seen_by(caller, view(session, agency_id))


def _as_seen_by(caller: Principal, agency: AgencyView) -> AgencyView:
    """The webhook URL may embed the receiver's own token: only the owner and admins read it
    (security review F19); for others it reads as null."""
    if caller.role in ("owner", "admin"):
        return agency
    return replace(agency, webhook_url=None)


@retried
def change_own_agency(caller: Principal, changes: dict[str, Any]) -> AgencyView:
    """Owner. Audited with the names of the fields changed, not their values: contacts stay out
    of the log. A rename is the exception (F16): the agency's name is shown to homeowners, so
    the log keeps the old and the new one (a company's name, not a person's data)."""
    agency_id = caller.agency()
    caller.require("owner")
    with unit_of_work() as session:
        before = read_agency_name(session, agency_id)
        changed = update_agency(session, agency_id, changes)
        record(session, caller, "agency.changed", "agency", agency_id, fields=sorted(changes))
        if changed.name != before:
            record(
                session, caller, "agency.renamed", "agency", agency_id, old=before, new=changed.name
            )
        return changed


@retried
def issue_api_key(
    caller: Principal,
    agency_id: uuid.UUID,
    role: str,
    label: str,
    expires_at: datetime | None = None,
) -> IssuedKey:
    """Admin, or that agency's owner. The key is shown only in this answer; with `expires_at`,
    it is refused from then on."""
    if caller.role != "admin":
        _require_staff_or_own(caller, agency_id)
        caller.require("owner")
    with unit_of_work() as session:
        issued = create_key(session, role, agency_id, label, expires_at)
        expiry = issued.expires_at.isoformat() if issued.expires_at else None
        record(
            session, caller, "api_key.issued", "api_key", issued.id, role=issued.role,
            expires_at=expiry,
        )  # fmt: skip
    return issued


@retried
def agency_keys(caller: Principal) -> list[ApiKey]:
    """Owner. Role, label and dates of each key; never the secret."""
    caller.require("owner")
    with unit_of_work() as session:
        return list_keys(session, caller.agency())


@retried
def revoke_api_key(caller: Principal, key_id: uuid.UUID) -> None:
    """Owner. Refused at the key's next request."""
    caller.require("owner")
    with unit_of_work() as session:
        key = revoke_agency_key(session, caller.agency(), key_id)
        record(session, caller, "api_key.revoked", "api_key", key.id, role=key.role)


@retried
def change_api_key_role(caller: Principal, key_id: uuid.UUID, role: str) -> ApiKey:
    """Owner, not on their own key. Holds from the key's next request."""
    caller.require("owner")
    with unit_of_work() as session:
        key, previous = change_agency_key_role(
            session, caller.agency(), key_id, role, caller.key_id
        )
        record(
            session, caller, "api_key.role_changed", "api_key", key.id, old=previous, new=key.role
        )
        return key


@retried
def agency_webhook(caller: Principal) -> Webhook:
    """Owner. The URL events are posted to and the secret that signs them."""
    caller.require("owner")
    with unit_of_work() as session:
        row = session.execute(
            text("""
                SELECT webhook_url, webhook_secret,
                       CASE WHEN previous_webhook_secret_until > clock_timestamp()
                            THEN previous_webhook_secret_until END AS previous_until
                FROM agency WHERE id = :a
            """),
            {"a": caller.agency()},
        ).one()
    return Webhook(row.webhook_url, row.webhook_secret, row.previous_until)


# How long a rotated-out secret still signs, beside the new one.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)


@retried
def rotate_webhook_secret(caller: Principal) -> Webhook:
    """Owner. A new signing secret, shown here once more with `GET /agency/webhook`; for a day
    every webhook carries the old secret's signature too, so the receiver can switch over
    without losing an event. Rotating again ends the older secret's grace at once."""
    caller.require("owner")
    with unit_of_work() as session:
        row = session.execute(
            text("""
                UPDATE agency SET previous_webhook_secret = webhook_secret,
                       previous_webhook_secret_until = clock_timestamp() + :grace,
                       webhook_secret = :secret
                WHERE id = :a
                RETURNING webhook_url, webhook_secret, previous_webhook_secret_until
            """),
            {"a": caller.agency(), "secret": secrets.token_hex(32), "grace": PREVIOUS_SECRET_GRACE},
        ).one()
        record(session, caller, "agency.webhook_secret_rotated", "agency", caller.agency())
    return Webhook(row.webhook_url, row.webhook_secret, row.previous_webhook_secret_until)


def _require_staff_or_own(caller: Principal, agency_id: uuid.UUID) -> None:
    if not caller.is_staff and caller.agency_id != agency_id:
        raise NotFound("No such agency.", "agency_not_found")
