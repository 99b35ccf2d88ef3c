"""The product's rules as settings (PRODUCT.md: every default is a setting, not a constant).

Rows of the `setting` table are seeded by the migrations with the defaults below; admins change
them later (`PATCH /settings`). Reading a rule always goes through this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base

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
}


class Setting(Base):
    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def read_settings(session: Session) -> dict[str, Any]:
    stored = dict(session.execute(select(Setting.key, Setting.value)).tuples().all())
    return {**DEFAULTS, **stored}


@dataclass(frozen=True)
class MatchingRules:
    """The rules of PRODUCT §3 in force for one matching."""

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
