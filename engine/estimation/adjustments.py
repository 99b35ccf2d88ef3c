"""The property's facts that move a price, and by how much (docs/estimate.md publishes this table).

Comparable sales say what a typical flat or house of the street sold for per m²; they do not know
the floor, the lift, the condition, the balcony or the parking of the one being estimated. Each
fact the homeowner gives moves the central value (and its range with it) by one published factor,
and the answer lists every factor applied, so the homeowner sees why ("+4 % : balcon"). Factors
are in basis points and multiply: the orders of magnitude the notaries' and observatories' notes
give, kept moderate, since an agency's visit refines them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Facts = Mapping[str, Any]


@dataclass(frozen=True)
class Factor:
    key: str
    applies_to: tuple[str, ...]  # property types
    basis_points: int
    label_fr: str
    label_en: str
    when: Callable[[Facts], bool]


@dataclass(frozen=True)
class Adjustment:
    """One factor applied to an estimate, as the homeowner reads it."""

    key: str
    basis_points: int
    label_fr: str
    label_en: str


FLAT, HOUSE, BOTH = ("appartement",), ("maison",), ("appartement", "maison")


def _floor(facts: Facts, default: int) -> int:
    floor = facts.get("floor")
    return floor if isinstance(floor, int) and not isinstance(floor, bool) else default


def _outdoor(value: str) -> Callable[[Facts], bool]:
    return lambda facts: facts.get("outdoor_space") == value


def _condition(value: str) -> Callable[[Facts], bool]:
    return lambda facts: facts.get("condition") == value


FACTORS: tuple[Factor, ...] = (
    Factor("ground_floor", FLAT, -800, "rez-de-chaussée", "ground floor",
           lambda f: _floor(f, 1) <= 0),
    Factor("high_floor_no_lift", FLAT, -800, "3e étage ou plus sans ascenseur",
           "3rd floor or above without a lift",
           lambda f: _floor(f, 0) >= 3 and f.get("lift") is False),
    Factor("high_floor_lift", FLAT, 300, "étage élevé avec ascenseur", "high floor with a lift",
           lambda f: _floor(f, 0) >= 4 and f.get("lift") is True),
    Factor("to_renovate", BOTH, -1500, "à rénover", "needs renovation", _condition("to_renovate")),
    Factor("fair_condition", BOTH, -500, "état correct, travaux à prévoir",
           "fair condition, some work needed", _condition("fair")),
    Factor("excellent_condition", BOTH, 500, "excellent état", "excellent condition",
           _condition("excellent")),
    Factor("balcony", FLAT, 400, "balcon", "balcony", _outdoor("balcony")),
    Factor("terrace", FLAT, 700, "terrasse", "terrace", _outdoor("terrace")),
    Factor("terrace", HOUSE, 300, "terrasse", "terrace", _outdoor("terrace")),
    Factor("garden", FLAT, 1000, "jardin", "garden", _outdoor("garden")),
    Factor("no_outdoor_space", HOUSE, -500, "maison sans extérieur", "house with no outdoor space",
           _outdoor("none")),
    Factor("parking", FLAT, 400, "parking ou garage", "parking or garage",
           lambda f: f.get("parking") is True),
    Factor("parking", HOUSE, 200, "parking ou garage", "parking or garage",
           lambda f: f.get("parking") is True),
)  # fmt: skip


def adjustments_for(property_type: str, facts: Facts) -> list[Adjustment]:
    """The factors the property's facts call for, in the table's order; a fact not given moves
    nothing."""
    return [
        Adjustment(f.key, f.basis_points, f.label_fr, f.label_en)
        for f in FACTORS
        if property_type in f.applies_to and f.when(facts)
    ]


def multiplier(adjustments: Iterable[Adjustment]) -> float:
    """The factors compounded: +4 % and −8 % give × 1.04 × 0.92."""
    result = 1.0
    for adjustment in adjustments:
        result *= 1 + adjustment.basis_points / 10_000
    return result
