"""Agencies: created by staff; each agency reads and changes its own profile and zone."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from api.agencies.schemas import (
    AgencyIn,
    AgencyOut,
    AgencyPatch,
    ApiKeyIn,
    ApiKeyInfo,
    ApiKeyOut,
    ApiKeyRoleIn,
    InvitationIn,
    InvitationOut,
    WebhookOut,
)
from api.auth import Caller, principal
from api.contract import AGENCY_KEY, KEYED, UNREADABLE, conflict, not_found, operation
from api.schemas import shaped
from engine.agencies.flows import (
    agency_keys,
    agency_webhook,
    change_api_key_role,
    change_own_agency,
    issue_api_key,
    own_agency,
    read_agency,
    register_agency,
    revoke_api_key,
    rotate_webhook_secret,
)
from engine.agencies.profile import NewAgency
from engine.agencies.zone import Location
from engine.people.invitations import invite


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
        new = NewAgency(
            **{
                **msgspec.structs.asdict(data),
                "office": Location(**msgspec.structs.asdict(data.office)),
            }
        )
        return shaped(register_agency(caller, new), AgencyOut)

    @get(
        "/agencies/{agency_id:uuid}",
        sync_to_thread=True,
        summary="Read an agency",
        **operation("readAgency", *KEYED, not_found("agency_not_found")),
    )
    def read(self, caller: Caller, agency_id: FromPath[uuid.UUID]) -> AgencyOut:
        """One agency (staff, or that agency's own keys)."""
        return shaped(read_agency(caller, agency_id), AgencyOut)

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
        """A new collaborator key (admin, or that agency's owner). The key is shown only here.
        With `expires_at` it is refused from that time on, like a revoked key."""
        issued = issue_api_key(caller, agency_id, data.role, data.label, data.expires_at)
        return ApiKeyOut(
            issued.id, issued.key, issued.role, issued.label, issued.agency_id, issued.expires_at
        )

    @post(
        "/agencies/{agency_id:uuid}/invitations",
        sync_to_thread=True,
        status_code=201,
        summary="Invite a person to the agency's Espace Pro",
        **operation(
            "invitePerson", *KEYED, UNREADABLE, not_found("agency_not_found"),
            conflict("email_taken"),
        ),
    )  # fmt: skip
    def invite(
        self, caller: Caller, agency_id: FromPath[uuid.UUID], data: JSONBody[InvitationIn]
    ) -> InvitationOut:
        """Admin, or that agency's owner. The person receives an e-mail whose link (single use,
        7 days) lets them choose a password and sign in at /pro/."""
        person = invite(caller, agency_id, data.email, data.name, data.role, data.lang)
        return InvitationOut(person, data.email.strip(), data.role, "invited")

    @get(
        "/agency/api-keys",
        sync_to_thread=True,
        summary="Your agency's collaborator keys",
        **operation("listApiKeys", *KEYED, AGENCY_KEY),
    )
    def keys(self, caller: Caller) -> list[ApiKeyInfo]:
        """Owner only. Role, label and dates of each key; the secret is never shown again."""
        return [shaped(key, ApiKeyInfo) for key in agency_keys(caller)]

    @delete(
        "/agency/api-keys/{key_id:uuid}",
        sync_to_thread=True,
        status_code=204,
        summary="Revoke a collaborator key",
        **operation("revokeApiKey", *KEYED, AGENCY_KEY, not_found("api_key_not_found")),
    )
    def revoke(self, caller: Caller, key_id: FromPath[uuid.UUID]) -> None:
        """Owner only. Refused at the key's next request."""
        revoke_api_key(caller, key_id)

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
        return shaped(change_api_key_role(caller, key_id, data.role), ApiKeyInfo)

    @get(
        "/agency/webhook",
        sync_to_thread=True,
        summary="Your webhook URL and signing secret",
        **operation("readWebhook", *KEYED, AGENCY_KEY),
    )
    def webhook(self, caller: Caller) -> WebhookOut:
        """Owner only. Each webhook carries `Mandat-Signature: t=<unix time>,v1=<hex>` with
        v1 = HMAC-SHA256(secret, "<t>.<raw body>"): recompute it, and refuse an old `t`."""
        return shaped(agency_webhook(caller), WebhookOut)

    @post(
        "/agency/webhook/secret",
        sync_to_thread=True,
        status_code=200,
        summary="Rotate your webhook signing secret",
        **operation("rotateWebhookSecret", *KEYED, AGENCY_KEY),
    )
    def rotate_secret(self, caller: Caller) -> WebhookOut:
        """Owner only. A new secret signs from now on; for 24 hours (`previous_secret_until`)
        each webhook's `Mandat-Signature` also carries a `v1` made with the previous secret
        (`t=…,v1=<new>,v1=<old>`): accept either while you switch over."""
        return shaped(rotate_webhook_secret(caller), WebhookOut)

    @get(
        "/agency",
        sync_to_thread=True,
        summary="Read your agency",
        **operation("readOwnAgency", *KEYED, AGENCY_KEY),
    )
    def own(self, caller: Caller) -> AgencyOut:
        """The caller's agency: profile, zone, budget, pause, webhook."""
        return shaped(own_agency(caller), AgencyOut)

    @patch(
        "/agency",
        sync_to_thread=True,
        summary="Change your agency's zone, pause, budget",
        **operation("changeOwnAgency", *KEYED, AGENCY_KEY, UNREADABLE),
    )
    def change_own(self, caller: Caller, data: JSONBody[AgencyPatch]) -> AgencyOut:
        """Change the zone (radius, centre, communes), pause, budget or webhook (owner)."""
        return shaped(change_own_agency(caller, data.changes()), AgencyOut)
