"""Agencies: created by staff; each agency reads and changes its own profile and zone."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy import text

from api.agencies.schemas import (
    AgencyIn,
    AgencyOut,
    AgencyPatch,
    ApiKeyIn,
    ApiKeyInfo,
    ApiKeyOut,
    ApiKeyRoleIn,
    WebhookOut,
)
from api.auth import Caller, principal
from api.contract import AGENCY_KEY, KEYED, UNREADABLE, conflict, not_found, operation
from engine.accounts.keys import (
    Principal,
    change_agency_key_role,
    create_key,
    list_keys,
    revoke_agency_key,
)
from engine.agencies.service import (
    AgencyView,
    Location,
    NewAgency,
    create_agency,
    update_agency,
    view,
)
from engine.audit import record
from engine.db import unit_of_work
from engine.errors import NotFound


def _out(agency: AgencyView) -> AgencyOut:
    return msgspec.convert(agency, AgencyOut, from_attributes=True)


class AgencyController(Controller):
    path = "/api/v1"
    tags = ["agencies"]
    dependencies = {"caller": Provide(principal, sync_to_thread=True)}
    security = [{"BearerAuth": []}]

    @post(
        "/agencies",
        sync_to_thread=True,
        status_code=201,
        summary="Create an agency",
        **operation("createAgency", *KEYED, UNREADABLE, conflict("siret_taken")),
    )
    def create(self, caller: Caller, data: JSONBody[AgencyIn]) -> AgencyOut:
        """Create an agency (admin). The zone is centred on the office, 20 km by default."""
        caller.require("admin")
        new = NewAgency(
            **{
                **msgspec.structs.asdict(data),
                "office": Location(**msgspec.structs.asdict(data.office)),
            }
        )
        with unit_of_work() as session:
            created = create_agency(session, new)
            record(session, caller, "agency.created", "agency", created.id)
            return _out(created)

    @get(
        "/agencies/{agency_id:uuid}",
        sync_to_thread=True,
        summary="Read an agency",
        **operation("readAgency", *KEYED, not_found("agency_not_found")),
    )
    def read(self, caller: Caller, agency_id: FromPath[uuid.UUID]) -> AgencyOut:
        """One agency (staff, or that agency's own keys)."""
        _require_staff_or_own(caller, agency_id)
        with unit_of_work() as session:
            return _out(view(session, agency_id))

    @post(
        "/agencies/{agency_id:uuid}/api-keys",
        sync_to_thread=True,
        status_code=201,
        summary="Issue a collaborator API key",
        **operation("issueApiKey", *KEYED, UNREADABLE, not_found("agency_not_found")),
    )
    def issue_key(
        self, caller: Caller, agency_id: FromPath[uuid.UUID], data: JSONBody[ApiKeyIn]
    ) -> ApiKeyOut:
        """A new collaborator key (admin, or that agency's owner). The key is shown only here."""
        if caller.role != "admin":
            _require_staff_or_own(caller, agency_id)
            caller.require("owner")
        with unit_of_work() as session:
            issued = create_key(session, data.role, agency_id, data.label)
            record(session, caller, "api_key.issued", "api_key", issued.id, role=issued.role)
        return ApiKeyOut(issued.id, issued.key, issued.role, issued.label, issued.agency_id)

    @get(
        "/agency/api-keys",
        sync_to_thread=True,
        summary="Your agency's collaborator keys",
        **operation("listApiKeys", *KEYED, AGENCY_KEY),
    )
    def keys(self, caller: Caller) -> list[ApiKeyInfo]:
        """Owner only. Role, label and dates of each key; the secret is never shown again."""
        caller.require("owner")
        with unit_of_work() as session:
            return [
                ApiKeyInfo(k.id, k.role, k.label, k.created_at, k.revoked_at)
                for k in list_keys(session, caller.agency())
            ]

    @delete(
        "/agency/api-keys/{key_id:uuid}",
        sync_to_thread=True,
        status_code=204,
        summary="Revoke a collaborator key",
        **operation("revokeApiKey", *KEYED, AGENCY_KEY, not_found("api_key_not_found")),
    )
    def revoke(self, caller: Caller, key_id: FromPath[uuid.UUID]) -> None:
        """Owner only. Refused at the key's next request."""
        caller.require("owner")
        with unit_of_work() as session:
            key = revoke_agency_key(session, caller.agency(), key_id)
            record(session, caller, "api_key.revoked", "api_key", key.id, role=key.role)

    @patch(
        "/agency/api-keys/{key_id:uuid}",
        sync_to_thread=True,
        summary="Change a collaborator key's role",
        **operation(
            "changeApiKeyRole",
            *KEYED,
            AGENCY_KEY,
            UNREADABLE,
            not_found("api_key_not_found"),
            conflict("api_key_revoked", "own_key"),
        ),
    )
    def change_role(
        self, caller: Caller, key_id: FromPath[uuid.UUID], data: JSONBody[ApiKeyRoleIn]
    ) -> ApiKeyInfo:
        """Owner only, not on the caller's own key (409 own_key). Holds from the key's next
        request."""
        caller.require("owner")
        with unit_of_work() as session:
            key, previous = change_agency_key_role(
                session, caller.agency(), key_id, data.role, caller.key_id
            )
            record(
                session, caller, "api_key.role_changed", "api_key", key.id,
                old=previous, new=key.role,
            )  # fmt: skip
            return ApiKeyInfo(key.id, key.role, key.label, key.created_at, key.revoked_at)

    @get(
        "/agency/webhook",
        sync_to_thread=True,
        summary="Your webhook URL and signing secret",
        **operation("readWebhook", *KEYED, AGENCY_KEY),
    )
    def webhook(self, caller: Caller) -> WebhookOut:
        """Owner only. Each webhook carries `Mandat-Signature: t=<unix time>,v1=<hex>` with
        v1 = HMAC-SHA256(secret, "<t>.<raw body>"): recompute it, and refuse an old `t`."""
        caller.require("owner")
        with unit_of_work() as session:
            row = session.execute(
                text("SELECT webhook_url, webhook_secret FROM agency WHERE id = :a"),
                {"a": caller.agency()},
            ).one()
        return WebhookOut(row.webhook_url, row.webhook_secret)

    @get(
        "/agency",
        sync_to_thread=True,
        summary="Read your agency",
        **operation("readOwnAgency", *KEYED, AGENCY_KEY),
    )
    def own(self, caller: Caller) -> AgencyOut:
        """The caller's agency: profile, zone, budget, pause, webhook."""
        with unit_of_work() as session:
            return _out(view(session, caller.agency()))

    @patch(
        "/agency",
        sync_to_thread=True,
        summary="Change your agency's zone, pause, budget",
        **operation("changeOwnAgency", *KEYED, AGENCY_KEY, UNREADABLE),
    )
    def change_own(self, caller: Caller, data: JSONBody[AgencyPatch]) -> AgencyOut:
        """Change the zone (radius, centre, communes), pause, budget or webhook (owner)."""
        agency_id = caller.agency()
        caller.require("owner")
        changes = data.changes()
        with unit_of_work() as session:
            changed = update_agency(session, agency_id, changes)
            # Which fields changed, not their values: names and contacts stay out of the log.
            record(session, caller, "agency.changed", "agency", agency_id, fields=sorted(changes))
            return _out(changed)


def _require_staff_or_own(caller: Principal, agency_id: uuid.UUID) -> None:
    # Another agency's id answers exactly like an unknown one.
    if not caller.is_staff and caller.agency_id != agency_id:
        raise NotFound("No such agency.", "agency_not_found")
