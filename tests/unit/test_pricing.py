"""The price grid's invariants (docs/rules.md §6), on the default grid and on any grid an admin may
set: exclusive above shared, monotonic in value and grade, deterministic, never negative."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.pricing.grid import GRADES, PriceGrid, ValueBand, quote, validate_grid

factor = st.decimals(min_value=Decimal("0.1"), max_value=Decimal("5"), places=2)


@st.composite
def grids(draw: st.DrawFn) -> PriceGrid:
    shared = draw(st.integers(100, 20_000))
    bounds = sorted(draw(st.sets(st.integers(10_000, 5_000_000), min_size=1, max_size=5)))
    band_factors = sorted(
        draw(st.lists(factor, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    )
    grades = sorted(draw(st.lists(factor, min_size=3, max_size=3)), reverse=True)
    low = draw(st.decimals(min_value=Decimal("0.1"), max_value=Decimal("1"), places=2))
    high = draw(st.decimals(min_value=Decimal("1"), max_value=Decimal("3"), places=2))
    grid = PriceGrid(
        version=draw(st.integers(1, 1000)),
        base_cents={"shared": shared, "exclusive": shared + draw(st.integers(1, 50_000))},
        bands=tuple(ValueBand(b, f) for b, f in zip([*bounds, None], band_factors, strict=True)),
        no_estimate_factor=draw(factor),
        grade_factors=dict(zip(GRADES, grades, strict=True)),
        competition_step=draw(st.decimals(min_value=0, max_value=Decimal("0.2"), places=3)),
        competition_pivot=draw(st.integers(1, 5)),
        competition_bounds=(low, high),
        floor_cents=draw(st.integers(0, 50)) * 100,
    )
    assert validate_grid(grid) == []
    return grid


estimates = st.one_of(st.none(), st.integers(1_000, 20_000_000))
consents = st.integers(1, 10)


@given(grids(), estimates, st.sampled_from(GRADES), consents)
def test_exclusive_costs_more_than_shared(grid, estimate, grade, consented) -> None:
    exclusive = quote(grid, "exclusive", estimate, grade, consented).price_cents
    shared = quote(grid, "shared", estimate, grade, consented).price_cents

    assert exclusive > shared >= grid.floor_cents >= 0


@given(
    grids(),
    st.sampled_from(["exclusive", "shared"]),
    st.integers(1_000, 20_000_000),
    st.integers(0, 5_000_000),
    st.sampled_from(GRADES),
    consents,
)
def test_a_more_valuable_property_never_costs_less(grid, mode, low, more, grade, consented) -> None:
    cheap = quote(grid, mode, low, grade, consented).price_cents
    dear = quote(grid, mode, low + more, grade, consented).price_cents

    assert dear >= cheap


@given(grids(), st.sampled_from(["exclusive", "shared"]), estimates, consents)
def test_a_better_grade_never_costs_less(grid, mode, estimate, consented) -> None:
    prices = [quote(grid, mode, estimate, g, consented).price_cents for g in GRADES]

    assert prices == sorted(prices, reverse=True)


@given(
    grids(), st.sampled_from(["exclusive", "shared"]), estimates, st.sampled_from(GRADES), consents
)
def test_a_quote_is_whole_euros_and_the_same_every_time(
    grid, mode, estimate, grade, consented
) -> None:
    first = quote(grid, mode, estimate, grade, consented)
    again = quote(
        PriceGrid.from_json(grid.version, grid.to_json()), mode, estimate, grade, consented
    )

    assert first == again
    assert first.price_cents % 100 == 0


@pytest.mark.parametrize(
    ("mode", "estimate", "grade", "consented", "euros"),
    [
        ("shared", 250_000, "B", 3, 30),
        ("exclusive", 250_000, "B", 3, 80),
        ("exclusive", 100_000, "B", 3, 48),  # ×0.6
        ("exclusive", 600_000, "A", 3, 144),  # ×1.5 ×1.2
        ("exclusive", None, "B", 3, 200),  # no estimate ×2.5
        ("exclusive", 2_000_000, "C", 3, 140),  # ×2.5 ×0.7
        ("shared", 250_000, "B", 10, 41),  # competition ×1.35 → 40.5 → 41
        ("shared", 250_000, "B", 20, 45),  # clamped at ×1.5
        ("shared", 250_000, "B", 1, 27),  # ×0.9
        ("shared", 100_000, "C", 1, 11),  # 30 × 0.6 × 0.7 × 0.9 = 11.34
    ],
)
def test_the_default_grid(mode, estimate, grade, consented, euros) -> None:
    assert quote(PriceGrid(), mode, estimate, grade, consented).price_cents == euros * 100


def test_the_floor_applies() -> None:
    grid = PriceGrid(floor_cents=2_000)

    assert quote(grid, "shared", 100_000, "C", 1).price_cents == 2_000


@pytest.mark.parametrize(
    "change",
    [
        {"base_cents": {"exclusive": 3_000, "shared": 3_000}},
        {"grade_factors": {"A": Decimal(1), "B": Decimal("1.2"), "C": Decimal("0.7")}},
        {"bands": (ValueBand(100_000, Decimal(2)), ValueBand(None, Decimal(1)))},
        {"bands": (ValueBand(100_000, Decimal(1)),)},
        {"competition_bounds": (Decimal("1.1"), Decimal("1.5"))},
        {"floor_cents": 1_050},
    ],
)
def test_an_unfit_grid_is_refused(change) -> None:
    assert validate_grid(PriceGrid(**change)) != []
