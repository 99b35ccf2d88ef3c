"""Lead prices (docs/rules.md §6): a versioned grid and one pure quote function.

A grid is a value: the database keeps every version (`price_grid`), a lead's offer records the
version and the prices quoted from it, so a later grid never changes a price already shown or
paid. Prices are integer euro cents excluding VAT; factors are exact decimals, rounded to the
euro once, at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MODES = ("exclusive", "shared")
GRADES = ("A", "B", "C")


@dataclass(frozen=True)
class ValueBand:
    """Estimates below `below_eur` (None: no upper bound) take this factor."""

    below_eur: int | None
    factor: Decimal


@dataclass(frozen=True)
class PriceGrid:
    version: int = 0
    base_cents: dict[str, int] = field(
        default_factory=lambda: {"exclusive": 8_000, "shared": 3_000}
    )
    bands: tuple[ValueBand, ...] = (
        ValueBand(150_000, Decimal("0.6")),
        ValueBand(400_000, Decimal("1.0")),
        ValueBand(1_000_000, Decimal("1.5")),
        ValueBand(None, Decimal("2.5")),
    )
    no_estimate_factor: Decimal = Decimal("2.5")
    grade_factors: dict[str, Decimal] = field(
        default_factory=lambda: {"A": Decimal("1.2"), "B": Decimal("1.0"), "C": Decimal("0.7")}
    )
    # ×(1 + step × (consented agencies − pivot)), clamped to [low, high].
    competition_step: Decimal = Decimal("0.05")
    competition_pivot: int = 3
    competition_bounds: tuple[Decimal, Decimal] = (Decimal("0.8"), Decimal("1.5"))
    floor_cents: int = 1_000

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("version")
        jsonable: dict[str, Any] = _jsonable(data)
        return jsonable

    @classmethod
    def from_json(cls, version: int, data: dict[str, Any]) -> PriceGrid:
        return cls(
            version=version,
            base_cents={k: int(v) for k, v in data["base_cents"].items()},
            bands=tuple(
                ValueBand(
                    None if b["below_eur"] is None else int(b["below_eur"]),
                    Decimal(str(b["factor"])),
                )
                for b in data["bands"]
            ),
            no_estimate_factor=Decimal(str(data["no_estimate_factor"])),
            grade_factors={k: Decimal(str(v)) for k, v in data["grade_factors"].items()},
            competition_step=Decimal(str(data["competition_step"])),
            competition_pivot=int(data["competition_pivot"]),
            competition_bounds=(
                Decimal(str(data["competition_bounds"][0])),
                Decimal(str(data["competition_bounds"][1])),
            ),
            floor_cents=int(data["floor_cents"]),
        )


@dataclass(frozen=True)
class Quote:
    """A lead's price in one mode, with every factor that made it (kept with each sale)."""

    mode: str
    price_cents: int
    grid_version: int
    factors: dict[str, str]


def quote(
    grid: PriceGrid, mode: str, estimate_mid_eur: int | None, grade: str, consented: int
) -> Quote:
    """The price of a lead in `mode` (exclusive or shared). Deterministic, never below the floor,
    and an exclusive lead always costs at least one euro more than the same lead shared."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    if grade not in GRADES:
        raise ValueError(f"unknown grade {grade!r}")
    price, factors = _price(grid, mode, estimate_mid_eur, grade, consented)
    if mode == "exclusive":
        shared, _ = _price(grid, "shared", estimate_mid_eur, grade, consented)
        if price <= shared:
            price = shared + 100
            factors["raised_above_shared"] = "true"
    return Quote(mode=mode, price_cents=price, grid_version=grid.version, factors=factors)


def validate_grid(grid: PriceGrid) -> list[str]:
    """What makes a grid unfit (empty when fit): the invariants every quote relies on."""
    return [problem for check in _GRID_CHECKS if (problem := check(grid)) is not None]


def _base_cents_problem(grid: PriceGrid) -> str | None:
    if set(grid.base_cents) != set(MODES) or min(grid.base_cents.values()) <= 0:
        return "base_cents: a positive price for each of exclusive and shared"
    if grid.base_cents["exclusive"] <= grid.base_cents["shared"]:
        return "base_cents: exclusive must cost more than shared"
    return None


def _band_bounds_problem(grid: PriceGrid) -> str | None:
    bounds = [b.below_eur for b in grid.bands]
    if (
        not bounds
        or bounds[-1] is not None
        or any(b is None for b in bounds[:-1])
        or bounds[:-1] != sorted(set(bounds[:-1]))  # type: ignore[type-var]
    ):
        return "bands: increasing upper bounds, the last one open (null)"
    return None


def _band_factors_problem(grid: PriceGrid) -> str | None:
    factors = [b.factor for b in grid.bands]
    if any(f <= 0 for f in factors) or factors != sorted(factors):
        return "bands: positive factors that never decrease with value"
    return None


def _no_estimate_problem(grid: PriceGrid) -> str | None:
    return "no_estimate_factor: positive" if grid.no_estimate_factor <= 0 else None


def _grade_factors_problem(grid: PriceGrid) -> str | None:
    if set(grid.grade_factors) != set(GRADES) or not (
        grid.grade_factors["A"] >= grid.grade_factors["B"] >= grid.grade_factors["C"] > 0
    ):
        return "grade_factors: A ≥ B ≥ C > 0"
    return None


def _competition_problem(grid: PriceGrid) -> str | None:
    low, high = grid.competition_bounds
    if not (0 < low <= 1 <= high) or grid.competition_step < 0:
        return "competition: 0 < low ≤ 1 ≤ high and a step ≥ 0"
    return None


def _floor_problem(grid: PriceGrid) -> str | None:
    if grid.floor_cents < 0 or grid.floor_cents % 100:
        return "floor_cents: whole euros, not negative"
    return None


# The grid's invariants, in the order their problems are listed.
_GRID_CHECKS: tuple[Callable[[PriceGrid], str | None], ...] = (
    _base_cents_problem,
    _band_bounds_problem,
    _band_factors_problem,
    _no_estimate_problem,
    _grade_factors_problem,
    _competition_problem,
    _floor_problem,
)


def _price(
    grid: PriceGrid, mode: str, estimate_mid_eur: int | None, grade: str, consented: int
) -> tuple[int, dict[str, str]]:
    value = grid.no_estimate_factor if estimate_mid_eur is None else _band(grid, estimate_mid_eur)
    competition = Decimal(1) + grid.competition_step * (consented - grid.competition_pivot)
    low, high = grid.competition_bounds
    competition = min(max(competition, low), high)
    raw = Decimal(grid.base_cents[mode]) * value * grid.grade_factors[grade] * competition
    euros = (raw / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    price = max(int(euros) * 100, grid.floor_cents)
    return price, {
        "base_cents": str(grid.base_cents[mode]),
        "value": str(value),
        "grade": str(grid.grade_factors[grade]),
        "competition": str(competition),
    }


def _band(grid: PriceGrid, estimate_eur: int) -> Decimal:
    for band in grid.bands:
        if band.below_eur is None or estimate_eur < band.below_eur:
            return band.factor
    return grid.bands[-1].factor


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
