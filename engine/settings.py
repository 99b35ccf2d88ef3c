"""The product's rules as settings (docs/rules.md: every default is a setting, not a constant).

Rows of the `setting` table are seeded by the migrations with the defaults below; admins change
them later (`PATCH /settings`). Reading a rule always goes through this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Text, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.accounts.keys import Principal
from engine.audit import record
from engine.db import Base
from engine.errors import FieldError, RuleViolation

DEFAULTS: dict[str, Any] = {
    "default_radius_km": 20,
    "min_candidates": 3,
    "max_named_agencies": 10,
    "extension_steps_km": [30, 50],
    "bot_min_seconds": 3,
    "max_leads_per_ip_per_hour": 10,
    "max_leads_per_phone_per_day": 3,
    "duplicate_window_days": 30,
    "grade_a_min_score": 70,
    "grade_b_min_score": 40,
    "exclusive_window_hours": 24,
    "shared_cap": 3,
    "offer_days": 30,
    # VAT by the agency's département (docs/rules.md §6), in basis points.
    "vat_rates_bp": {"default": 2000, "971": 850, "972": 850, "974": 850, "973": 0, "976": 0},
    "invoice_due_days": 15,
    "dunning_reminder_days": [3, 7],
    "dunning_suspend_days": 15,
    "refund_window_days": 7,
    "retention_unsold_days": 90,
    "retention_sold_days": 1095,
    "retention_access_log_days": 365,
    "retention_idempotency_key_hours": 24,
    # Sent or abandoned outbox messages (a homeowner's held their private link until sent).
    "retention_outbox_days": 30,
    # Estimations that never became a lead: their street and point go with them.
    "retention_estimation_hours": 72,
    # Stripe event payloads, once reconciliation (35 days back) no longer reads them.
    "retention_stripe_event_days": 35,
    # A lead's client address and browser, kept for the bot checks (1 hour) and a day's review.
    "retention_client_address_hours": 24,
    # Approved refunds over this share of an agency's last 30 days of purchases: manual review.
    "refund_review_rate_bp": 3000,
    # Speed to lead: a bought contact still "new" after this long reminds whoever works it…
    "speed_to_lead_reminder_minutes": 30,
    # …and, after this long, the agency's owners.
    "speed_to_lead_owner_hours": 24,
    # Mandat as the seller on its invoices; a demonstration identity until set for real.
    "seller_identity": {
        "name": "Mandat SAS",
        "siret": "90000000110008",
        "vat_number": "FR68900000001",
        "address": "10 rue de l'Exemple, 75002 Paris",
        "legal": "SAS au capital de 10 000 € — RCS Paris 900 000 001 (identité de démonstration)",
        # The same address field by field, and the SIREN, for the Factur-X (EN 16931 BG-4).
        "siren": "900000001",
        "street": "10 rue de l'Exemple",
        "postcode": "75002",
        "city": "Paris",
        "country_code": "FR",
    },
    # The legal notice and privacy policy's facts beside seller_identity (the company): who
    # answers for the site, how to reach Mandat and its privacy contact, who hosts it.
    # Demonstration values until set for real (PATCH /settings).
    "publisher": {
        "director": "Camille Martin, présidente (identité de démonstration)",
        "email": "contact@mandat.example",
        "phone": "+33100000000",
        "privacy_email": "donnees-personnelles@mandat.example",
        "host_name": "Hébergeur Exemple SAS (identité de démonstration)",
        "host_address": "1 quai de l'Exemple, 59100 Roubaix",
        "host_phone": "+33300000000",
    },
    # VAT on the debits (TVA sur les débits), when Mandat opted for it: a mention of every
    # invoice and BT-8 in its Factur-X. Off until the accountant says otherwise.
    "vat_on_debits": False,
}


PUBLISHER_FIELDS = tuple(DEFAULTS["publisher"])

# What each setting may hold: (type, lowest, highest). A list setting checks each item.
LIMITS: dict[str, tuple[type, float, float]] = {
    "default_radius_km": (int, 5, 50),
    "min_candidates": (int, 1, 20),
    "max_named_agencies": (int, 1, 20),
    "extension_steps_km": (list, 5, 50),
    "bot_min_seconds": (int, 0, 600),
    "max_leads_per_ip_per_hour": (int, 1, 10_000),
    "max_leads_per_phone_per_day": (int, 1, 100),
    "duplicate_window_days": (int, 1, 365),
    "grade_a_min_score": (int, 0, 100),
    "grade_b_min_score": (int, 0, 100),
    "exclusive_window_hours": (int, 0, 720),
    "shared_cap": (int, 1, 10),
    "offer_days": (int, 1, 365),
    "invoice_due_days": (int, 0, 90),
    "dunning_reminder_days": (list, 1, 60),
    "dunning_suspend_days": (int, 1, 120),
    "vat_rates_bp": (dict, 0, 10_000),
    "seller_identity": (dict, 0, 0),
    "publisher": (dict, 0, 0),
    "vat_on_debits": (bool, 0, 0),
    "refund_window_days": (int, 1, 90),
    "retention_unsold_days": (int, 1, 3650),
    "retention_sold_days": (int, 1, 3650),
    "retention_access_log_days": (int, 1, 3650),
    "retention_idempotency_key_hours": (int, 1, 720),
    "retention_outbox_days": (int, 1, 3650),
    "retention_estimation_hours": (int, 1, 8760),
    "retention_stripe_event_days": (int, 35, 3650),
    "retention_client_address_hours": (int, 1, 8760),
    "refund_review_rate_bp": (int, 0, 10_000),
    "speed_to_lead_reminder_minutes": (int, 1, 1440),
    "speed_to_lead_owner_hours": (int, 1, 720),
}


class Setting(Base):
    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def check_setting(key: str, value: Any) -> str | None:
    """Why `value` cannot be the setting `key`, or None when it can."""
    if key not in LIMITS:
        return "unknown setting"
    kind, low, high = LIMITS[key]
    if kind is bool:
        return None if isinstance(value, bool) else "true or false"
    if key == "seller_identity":
        return _seller_identity_problem(value)
    if key == "publisher":
        return _publisher_problem(value)
    if kind is dict:
        return _vat_rates_problem(value, low, high)
    if kind is list:
        return _days_list_problem(key, value, low, high)
    return _whole_numbers_problem([value], low, high)


def _seller_identity_problem(value: Any) -> str | None:
    needed = {"name", "siret", "vat_number", "address", "siren", "street", "postcode", "city"}
    if not isinstance(value, dict) or not needed <= set(value):
        return f"an object with {', '.join(sorted(needed))}"
    return None


def _publisher_problem(value: Any) -> str | None:
    needed = set(PUBLISHER_FIELDS)
    if not isinstance(value, dict) or set(value) != needed:
        return f"an object with exactly {', '.join(sorted(needed))}"
    if not all(isinstance(v, str) and v.strip() for v in value.values()):
        return "text for each field"
    return None


def _vat_rates_problem(value: Any, low: float, high: float) -> str | None:
    if not isinstance(value, dict) or "default" not in value:
        return "an object of rates by département code, with a default"
    return _whole_numbers_problem(list(value.values()), low, high)


def _days_list_problem(key: str, value: Any, low: float, high: float) -> str | None:
    if not isinstance(value, list) or not value or value != sorted(set(value)):
        return "a non-empty list of increasing whole numbers"
    if key == "dunning_reminder_days" and len(value) != 2:
        return "two increasing whole numbers of days: the first reminder, then the second"
    return _whole_numbers_problem(value, low, high)


def _whole_numbers_problem(items: list[Any], low: float, high: float) -> str | None:
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
            return f"a whole number from {low:g} to {high:g}"
    return None


def read_settings(session: Session) -> dict[str, Any]:
    stored = dict(session.execute(select(Setting.key, Setting.value)).tuples().all())
    return {**DEFAULTS, **stored}


@dataclass(frozen=True)
class MatchingRules:
    """The rules of docs/rules.md §3 in force for one matching."""

    min_candidates: int = 3
    max_named_agencies: int = 10
    extension_steps_m: tuple[int, ...] = (30_000, 50_000)
    version: str = "matching-v1"

    @classmethod
    def from_settings(cls, values: dict[str, Any]) -> MatchingRules:
        return cls(
            min_candidates=int(values["min_candidates"]),
            max_named_agencies=int(values["max_named_agencies"]),
            extension_steps_m=tuple(int(km * 1000) for km in values["extension_steps_km"]),
        )


def matching_rules(session: Session) -> MatchingRules:
    return MatchingRules.from_settings(read_settings(session))


# The settings `MatchingRules` is made of: what step 1 reads, with its other statements.
MATCHING_KEYS = ("min_candidates", "max_named_agencies", "extension_steps_km")


def matching_rules_of(stored: dict[str, Any]) -> MatchingRules:
    """The rules from the stored rows of `MATCHING_KEYS` (a default for any missing)."""
    return MatchingRules.from_settings({**DEFAULTS, **stored})


def change_settings(session: Session, caller: Principal, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply an admin's changes, all or none, each one audited with its old and new value."""
    current = read_settings(session)
    errors = [
        FieldError(key, "invalid_setting", f"{key}: {problem}")
        for key, value in changes.items()
        if (problem := check_setting(key, value))
    ]
    merged = {**current, **changes}
    if not errors and merged["grade_b_min_score"] > merged["grade_a_min_score"]:
        errors.append(
            FieldError("grade_b_min_score", "invalid_setting", "Grade B starts below grade A.")
        )
    if not errors and merged["min_candidates"] > merged["max_named_agencies"]:
        errors.append(
            FieldError(
                "min_candidates", "invalid_setting", "At most max_named_agencies candidates."
            )
        )
    if errors:
        raise RuleViolation(errors)
    for key, value in changes.items():
        if current.get(key) == value:
            continue
        session.execute(
            text("""
                INSERT INTO setting (key, value, updated_at)
                VALUES (:key, CAST(:value AS jsonb), now())
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()
            """),
            {"key": key, "value": json.dumps(value)},
        )
        record(session, caller, "setting.changed", "setting", key, old=current.get(key), new=value)
    return read_settings(session)
