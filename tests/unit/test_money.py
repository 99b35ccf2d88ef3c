"""Amounts as text: the one module that reads and writes euros, exact to the cent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.money import decimal_euros, format_euros, parse_euros

CENTS = st.integers(min_value=-(10**12), max_value=10**12)


@given(CENTS)
def test_an_amount_written_for_a_program_reads_back_to_the_same_cents(cents: int) -> None:
    assert parse_euros(decimal_euros(cents)) == cents


@given(CENTS)
def test_an_amount_written_for_a_person_reads_back_to_the_same_cents(cents: int) -> None:
    assert parse_euros(format_euros(cents)) == cents


def test_amounts_are_written_the_french_way() -> None:
    assert format_euros(123456) == "1\u202f234,56 €"
    assert format_euros(-5) == "-0,05 €"
    assert decimal_euros(123456) == "1234.56"


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("15,50", 1550), ("15.5", 1550), ("15", 1500), (" 1 234,05 € ", 123405), ("0,07", 7)],
)
def test_what_a_clerk_types_is_read_as_euros(typed: str, cents: int) -> None:
    assert parse_euros(typed) == cents


@pytest.mark.parametrize("typed", ["15,555", "quinze", "", "1,2,3", "15,-5"])
def test_an_amount_with_more_than_cents_or_no_amount_is_refused_not_cut(typed: str) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        parse_euros(typed)
