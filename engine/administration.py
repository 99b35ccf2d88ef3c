"""Platform staff's services: the rules' settings, the price grid and the audit log. Each
checks the caller's role and owns its unit of work; each change is audited by the service it
calls (`change_settings`, `publish_grid`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from typing import Any

from engine.accounts.keys import Principal
from engine.audit import AuditEntry, search
from engine.db import retried, unit_of_work
from engine.errors import RuleViolation
from engine.pricing.grid import PriceGrid
from engine.pricing.service import current_grid, publish_grid
from engine.replica import read_lagging
from engine.settings import change_settings, read_settings


@dataclass(frozen=True)
class AuditQuery:
    action: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    agency_id: uuid.UUID | None = None
    limit: int = 100
    before_id: int | None = None  # pages backwards


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEntry]
    next_before_id: int | None


@dataclass(frozen=True)
class RulesSettings:
    """Every setting in force (engine/settings.py `DEFAULTS` names them all). The VAT rates, the
    seller's identity and the publisher's facts are the documents stored as they were set."""

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
    vat_rates_bp: dict[str, int]
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
    speed_to_lead_reminder_minutes: int
    speed_to_lead_owner_hours: int
    seller_identity: dict[str, Any]
    publisher: dict[str, str]
    vat_on_debits: bool

    @classmethod
    def of(cls, values: dict[str, Any]) -> RulesSettings:
        """From the settings by name (`read_settings`)."""
        return cls(**{field.name: values[field.name] for field in fields(cls)})


@retried
def settings_in_force(caller: Principal) -> RulesSettings:
    """Admin. Every setting by name."""
    caller.require("admin")
    with unit_of_work() as session:
        return RulesSettings.of(read_settings(session))


@retried
def change_rules_settings(caller: Principal, changes: dict[str, Any]) -> RulesSettings:
    """Admin. All or none; each change audited with its old and new value."""
    caller.require("admin")
    with unit_of_work() as session:
        return RulesSettings.of(change_settings(session, caller, changes))


def audit_log(caller: Principal, query: AuditQuery) -> AuditPage:
    """Admin and finance. Newest first; never personal data. From the replica when there is
    one: an entry written a moment ago may show a few seconds later."""
    caller.require("admin", "finance")
    q = query
    items = read_lagging(
        lambda session: search(
            session, q.action, q.subject_type, q.subject_id, q.agency_id, q.limit, q.before_id
        )
    )
    return AuditPage(items, items[-1].id if len(items) == query.limit else None)


@retried
def price_grid_in_force(caller: Principal) -> PriceGrid:
    caller.require("admin", "finance")
    with unit_of_work() as session:
        return current_grid(session)


@retried
def publish_price_grid(caller: Principal, rules: dict[str, Any]) -> PriceGrid:
    """Admin. Offers already priced keep their prices; new offers use this version."""
    caller.require("admin")
    try:
        grid = PriceGrid.from_json(0, rules)
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise RuleViolation.at(
            "rules", "invalid_price_grid", f"Not a price grid: {error!s}."
        ) from error
    with unit_of_work() as session:
        return publish_grid(session, caller, grid)
