"""Step 1 of the form costs two round trips to the database where agencies and sales are dense:
one pipelined read, one insert (issue 16). Counted from libpq's own trace of every connection
the pool hands out (`benchmarks.harness.round_trips`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from benchmarks.harness import round_trips
from engine.db import unit_of_work
from engine.errors import RuleViolation
from engine.intake.estimations import EstimationRequest
from engine.intake.flows import estimate_property
from tests.helpers import add_agency, add_sale

TODAY = date.today()
RENNES = {"postal_code": "35000", "city": "Rennes"}


def request(**changes: Any) -> EstimationRequest:
    return EstimationRequest(
        **{"property_type": "appartement", "surface_m2": 65, **RENNES, **changes}
    )


def dense_rennes(session) -> None:  # type: ignore[no-untyped-def]
    for i in range(12):
        add_sale(session, -1.6749, 48.0931, 3_000 + 50 * i, sold_on=TODAY - timedelta(days=30))
    for i in range(12):
        add_agency(session, -1.68 + i * 0.002, 48.10, name=f"Agence Rennes {i}")
    session.commit()


def test_a_town_hall_estimate_costs_two_round_trips(session) -> None:
    dense_rennes(session)
    estimate_property(request(), TODAY)  # the process loads its communes on first use

    with round_trips() as counted:
        answer = estimate_property(request(), TODAY)

    assert answer.estimate.available
    assert len(answer.agencies) == 10
    assert counted == [2], counted.messages


def test_coordinates_cost_no_more(session) -> None:
    dense_rennes(session)
    estimate_property(request(), TODAY)

    with round_trips() as counted:
        answer = estimate_property(request(lat=48.1, lon=-1.675), TODAY)

    assert answer.location_precision == "coordinates"
    assert counted == [2], counted.messages


def test_a_typed_street_costs_one_more(session) -> None:
    dense_rennes(session)
    estimate_property(request(), TODAY)

    with round_trips() as counted:
        estimate_property(request(street="12 rue de la Soif"), TODAY)

    assert counted == [3], counted.messages


def test_a_change_of_rules_is_seen_by_the_next_estimate(session) -> None:
    dense_rennes(session)
    assert len(estimate_property(request(), TODAY).agencies) == 10

    with unit_of_work() as s:
        s.execute(text("UPDATE setting SET value = '4' WHERE key = 'max_named_agencies'"))

    assert len(estimate_property(request(), TODAY).agencies) == 4


def test_a_new_communes_dataset_is_seen_by_the_next_estimate(session) -> None:
    dense_rennes(session)
    estimate_property(request(), TODAY)
    version = "SELECT version FROM dataset_load WHERE name = 'communes'"
    with unit_of_work() as s:
        loaded = s.execute(text(version)).scalar_one()
        s.execute(text("INSERT INTO postal_code VALUES ('35999', '35238')"))
        s.execute(text("UPDATE dataset_load SET version = 'next' WHERE name = 'communes'"))
    try:
        # Unknown to the communes held: the dataset is checked before refusing.
        assert estimate_property(request(postal_code="35999"), TODAY).agencies
    finally:
        with unit_of_work() as s:
            s.execute(text("DELETE FROM postal_code WHERE postal_code = '35999'"))
            s.execute(
                text("UPDATE dataset_load SET version = :v WHERE name = 'communes'"), {"v": loaded}
            )

    # Known to the communes held, gone from the dataset now loaded: seen with the reads.
    with pytest.raises(RuleViolation) as refused:
        estimate_property(request(postal_code="35999"), TODAY)
    assert refused.value.errors[0].code == "unknown_postal_code"
