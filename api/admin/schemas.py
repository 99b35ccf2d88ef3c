"""Platform staff's shapes: the rules' settings, the price grid, the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta

from api.schemas import Out, Request

Decimal = Annotated[str, Meta(description="an exact decimal, as text", examples=["1.2"])]


class SettingsOut(Out):
    """The rules' settings in force (PATCH takes any of them by name)."""

    default_radius_km: int
    min_candidates: int
    max_named_agencies: int
    extension_steps_km: list[int]
    bot_min_seconds: int
    max_leads_per_ip_per_hour: int
    max_leads_per_phone_per_day: int
    duplicate_window_days: int
    grade_a_min_score: int
    grade_b_min_score: int
    exclusive_window_hours: int
    shared_cap: int
    offer_days: int
    vat_rates_bp: Annotated[
        dict[str, int], Meta(description="VAT in basis points by département code, and default")
    ]
    invoice_due_days: int
    dunning_reminder_days: list[int]
    dunning_suspend_days: int
    refund_window_days: int
    retention_unsold_days: int
    retention_sold_days: int
    retention_access_log_days: int
    retention_idempotency_key_hours: int
    retention_outbox_days: int
    retention_estimation_hours: int
    retention_stripe_event_days: int
    retention_client_address_hours: int
    refund_review_rate_bp: int
    speed_to_lead_reminder_minutes: Annotated[
        int, Meta(description="A bought contact still new reminds whoever works it after this")
    ]
    speed_to_lead_owner_hours: Annotated[
        int, Meta(description="…and the agency's owners after this")
    ]
    vat_on_debits: Annotated[bool, Meta(description="VAT on the debits: mentioned on invoices")]
    seller_identity: Annotated[
        dict[str, Any],
        Meta(description="Mandat as the seller on its invoices: name, siret, vat_number, address"),
    ]
    publisher: Annotated[
        dict[str, str],
        Meta(
            description="The legal notice's facts: director, email, phone, privacy_email, "
            "host_name, host_address, host_phone"
        ),
    ]


class ValueBandOut(Out):
    below_eur: int | None
    factor: Decimal


class PriceRulesOut(Out):
    """A price grid's rules, as PUT /price-grid takes them."""

    base_cents: dict[str, int]
    bands: list[ValueBandOut]
    no_estimate_factor: Decimal
    grade_factors: dict[str, Decimal]
    competition_step: Decimal
    competition_pivot: int
    competition_bounds: list[Decimal]
    floor_cents: int


class PriceGridOut(Out):
    version: int
    rules: PriceRulesOut


class AuditEntryOut(Out):
    """Who did what to which object; never personal data."""

    id: int
    at: datetime
    actor_key_id: uuid.UUID | None
    actor_role: str | None
    agency_id: uuid.UUID | None
    action: str
    subject_type: str
    subject_id: str
    details: dict[str, Any]


class AuditPage(Out):
    items: list[AuditEntryOut]
    next_before_id: Annotated[int | None, Meta(description="send as before_id for older")]


Slug = Annotated[
    str,
    Meta(
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="the embed script's data-source, and the form URL's source",
    ),
]
Origins = Annotated[
    list[Annotated[str, Meta(max_length=300)]],
    Meta(
        min_length=1,
        max_length=20,
        description="scheme://host[:port] of the pages that may frame the form; HTTPS",
        examples=[["https://www.immo-partenaire.fr"]],
    ),
]


class PartnerIn(Request):
    """A partner site that embeds the estimation form."""

    slug: Slug
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    allowed_origins: Origins


class PartnerChangeIn(Request):
    """A new name, or a new list of origins replacing the old one."""

    name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    allowed_origins: Origins | None = None


class PartnerOut(Out):
    slug: str
    name: str
    allowed_origins: list[str]
    created_at: datetime
    updated_at: datetime
