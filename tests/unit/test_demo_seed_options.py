"""`mandat demo seed` takes the property sales as `--property-sales`, and still as `--sales`, the
name the public command line documents (issue 18: "sale" in code means a lead sold)."""

from __future__ import annotations

import pytest

from mandat.data import demo_seed


@pytest.mark.parametrize("option", ["--property-sales", "--sales"])
def test_either_name_sets_the_number_of_property_sales(option: str) -> None:
    context = demo_seed.make_context("seed", [option, "100"])

    assert context.params["property_sales"] == 100
