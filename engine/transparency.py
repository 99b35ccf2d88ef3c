"""The rules in force, as a buyer is subject to them (P2B regulation, docs/rules.md §3): allocation,
ranking and prices, read from the live settings and price grid, never from a copy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from engine.intake.scoring import SCORE_MODEL, TIMELINE_POINTS
from engine.pricing.grid import PriceGrid, quote
from engine.pricing.service import current_grid
from engine.replica import read_lagging
from engine.settings import read_settings


@dataclass(frozen=True)
class Allocation:
    zone: str
    default_radius_km: int
    min_candidates: int
    extension_steps_km: list[int]
    extension: str
    excluded: str
    consent: str


@dataclass(frozen=True)
class Ranking:
    rule: str
    max_named_agencies: int


@dataclass(frozen=True)
class Selling:
    exclusive_window_hours: int
    shared_cap: int
    offer_days: int
    rule: str


@dataclass(frozen=True)
class Qualification:
    score_model: str
    timeline_points: dict[str, int]
    grade_a_min_score: int
    grade_b_min_score: int


@dataclass(frozen=True)
class Pricing:
    grid_version: int
    grid: dict[str, Any]  # the grid's rules, as PUT /price-grid takes them


@dataclass(frozen=True)
class RefundRules:
    window_days: int
    review_rate_bp: int


@dataclass(frozen=True)
class RulesInForce:
    allocation: Allocation
    ranking: Ranking
    selling: Selling
    qualification: Qualification
    pricing: Pricing
    refunds: RefundRules


def rules_in_force(session: Session) -> RulesInForce:
    settings = read_settings(session)
    grid = current_grid(session)
    steps = " then ".join(str(k) for k in settings["extension_steps_km"])
    window, cap, days = (
        settings["exclusive_window_hours"],
        settings["shared_cap"],
        settings["offer_days"],
    )
    return RulesInForce(
        allocation=Allocation(
            zone=(
                f"An agency is offered a lead when the property lies within its zone: a radius "
                f"around its centre (default {settings['default_radius_km']} km, 5 to 50 km) or "
                "one of the communes it lists."
            ),
            default_radius_km=settings["default_radius_km"],
            min_candidates=settings["min_candidates"],
            extension_steps_km=settings["extension_steps_km"],
            extension=(
                f"When fewer than {settings['min_candidates']} agencies cover a property, "
                f"agencies whose centre lies within {steps} km are added, if they accept "
                "extended leads."
            ),
            excluded="Suspended, paused and budget-exhausted agencies are not offered leads.",
            consent="Only the agencies the homeowner ticked among those named may buy the lead.",
        ),
        ranking=Ranking(
            rule="Agencies are named to the homeowner nearest first (geodesic distance). "
            "There is no paid priority.",
            max_named_agencies=settings["max_named_agencies"],
        ),
        selling=Selling(
            exclusive_window_hours=window,
            shared_cap=cap,
            offer_days=days,
            rule=(
                f"A qualified lead is offered exclusively for {window} h (first buyer only), "
                f"then shared with up to {cap} buyers, until {days} days after qualification."
            ),
        ),
        qualification=Qualification(
            score_model=SCORE_MODEL,
            timeline_points=TIMELINE_POINTS,
            grade_a_min_score=settings["grade_a_min_score"],
            grade_b_min_score=settings["grade_b_min_score"],
        ),
        pricing=Pricing(grid_version=grid.version, grid=grid.to_json()),
        refunds=RefundRules(
            window_days=settings["refund_window_days"],
            review_rate_bp=settings["refund_review_rate_bp"],
        ),
    )


def published_rules() -> RulesInForce:
    """The rules in force (public; from the replica when there is one)."""
    return read_lagging(rules_in_force)


@dataclass(frozen=True)
class WorkedExample:
    """One lead priced with the grid in force, step by step, for people to follow."""

    estimate_eur: int
    grade: str
    consented: int
    value_factor: str
    grade_factor: str
    competition_factor: str
    exclusive_cents: int
    shared_cents: int


def worked_example(
    pricing: Pricing, estimate_eur: int = 250_000, grade: str = "B", consented: int = 4
) -> WorkedExample:
    """A flat estimated at 250,000 €, grade B, four agencies consented: its two prices, from
    the same quote function a sale uses."""
    grid = PriceGrid.from_json(pricing.grid_version, pricing.grid)
    exclusive = quote(grid, "exclusive", estimate_eur, grade, consented)
    shared = quote(grid, "shared", estimate_eur, grade, consented)
    return WorkedExample(
        estimate_eur=estimate_eur,
        grade=grade,
        consented=consented,
        value_factor=shared.factors["value"],
        grade_factor=shared.factors["grade"],
        competition_factor=shared.factors["competition"],
        exclusive_cents=exclusive.price_cents,
        shared_cents=shared.price_cents,
    )
