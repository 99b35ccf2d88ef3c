"""The rules in force, as published to buyers (allocation, ranking, selling, prices, refunds)."""

from __future__ import annotations

from api.admin.schemas import PriceRulesOut
from api.schemas import Out


class AllocationOut(Out):
    zone: str
    default_radius_km: int
    min_candidates: int
    extension_steps_km: list[int]
    extension: str
    excluded: str
    consent: str


class RankingOut(Out):
    rule: str
    max_named_agencies: int


class SellingOut(Out):
    exclusive_window_hours: int
    shared_cap: int
    offer_days: int
    rule: str


class QualificationOut(Out):
    score_model: str
    timeline_points: dict[str, int]
    grade_a_min_score: int
    grade_b_min_score: int


class PricingOut(Out):
    grid_version: int
    grid: PriceRulesOut


class RefundRulesOut(Out):
    window_days: int
    review_rate_bp: int


class TransparencyOut(Out):
    allocation: AllocationOut
    ranking: RankingOut
    selling: SellingOut
    qualification: QualificationOut
    pricing: PricingOut
    refunds: RefundRulesOut
