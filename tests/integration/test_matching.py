"""match_lead on real PostGIS: zones, commune lists, the dynamic radius, exclusions, the cap."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pyproj import Geod
from sqlalchemy import text

from engine.geo.locate import Place, locate
from engine.matching.service import match_lead
from engine.settings import MatchingRules
from tests.helpers import add_agency
from tests.processes import ROOT, process_env

GEOD = Geod(ellps="WGS84")
RULES = MatchingRules()


def lead_at(lon: float, lat: float, commune: str = "75113", parent: str | None = None) -> Place:
    return Place(commune, "test", commune[:2], parent, lon, lat, "coordinates")


def moved(lon: float, lat: float, bearing: float, metres: float) -> tuple[float, float]:
    east, north, _ = GEOD.fwd(lon, lat, bearing, metres)
    return east, north


# Rennes town hall.
LON, LAT = -1.67494, 48.09307


def test_an_agency_is_a_candidate_exactly_when_the_lead_is_within_its_radius(session) -> None:
    inside = add_agency(session, *moved(LON, LAT, 30, 19_999.5), radius_km=20)
    add_agency(session, *moved(LON, LAT, 200, 20_000.5), radius_km=20, accepts_extended=False)

    found = match_lead(session, lead_at(LON, LAT), RULES)

    assert [(c.agency_id, c.reach) for c in found][:1] == [(inside, "zone")]
    assert found[0].distance_m == pytest.approx(19_999.5, abs=0.01)
    assert len([c for c in found if c.reach == "zone"]) == 1


def test_candidates_come_nearest_first_with_their_geodesic_distance(session) -> None:
    far = add_agency(session, *moved(LON, LAT, 90, 12_000))
    near = add_agency(session, *moved(LON, LAT, 270, 3_000))
    middle = add_agency(session, *moved(LON, LAT, 0, 7_500))

    found = match_lead(session, lead_at(LON, LAT), RULES)

    assert [c.agency_id for c in found] == [near, middle, far]
    assert [round(c.distance_m) for c in found] == [3_000, 7_500, 12_000]


def test_a_crowd_of_small_zones_near_the_lead_does_not_hide_a_far_wide_zone(session) -> None:
    for i in range(60):
        add_agency(
            session, *moved(LON, LAT, 6 * i, 6_000 + 50 * i), radius_km=5, accepts_extended=False
        )
    wide = add_agency(session, *moved(LON, LAT, 0, 45_000), radius_km=50)

    found = match_lead(session, lead_at(LON, LAT), RULES)

    assert [(c.agency_id, c.reach) for c in found] == [(wide, "zone")]


def test_a_commune_list_reaches_a_lead_far_outside_the_radius(session) -> None:
    lyon = add_agency(session, 4.8357, 45.7640, radius_km=10, communes=("35238",))
    add_agency(session, 4.84, 45.77, radius_km=10)  # Lyon too, without the list

    found = match_lead(session, lead_at(LON, LAT, commune="35238"), RULES)

    assert [(c.agency_id, c.reach) for c in found] == [(lyon, "communes")]
    assert found[0].distance_m > 400_000


def test_listing_a_city_covers_its_arrondissements(session) -> None:
    listing_paris = add_agency(session, 4.8357, 45.7640, communes=("75056",))

    place = locate(session, "75013", "Paris")
    found = match_lead(session, place, RULES)

    assert [(c.agency_id, c.reach) for c in found] == [(listing_paris, "communes")]


def test_too_few_agencies_in_zone_extends_to_30_then_50_km_for_those_who_accept(session) -> None:
    in_zone = add_agency(session, *moved(LON, LAT, 0, 4_000), radius_km=5)
    at_25 = add_agency(session, *moved(LON, LAT, 90, 25_000), radius_km=5)
    add_agency(session, *moved(LON, LAT, 180, 28_000), radius_km=5, accepts_extended=False)
    at_45 = add_agency(session, *moved(LON, LAT, 270, 45_000), radius_km=5)
    add_agency(session, *moved(LON, LAT, 270, 55_000), radius_km=5)

    found = match_lead(session, lead_at(LON, LAT), RULES)

    assert [(c.agency_id, c.reach) for c in found] == [
        (in_zone, "zone"),
        (at_25, "extended_30"),
        (at_45, "extended_50"),
    ]


def test_the_search_stops_extending_once_there_are_enough_candidates(session) -> None:
    add_agency(session, *moved(LON, LAT, 0, 4_000), radius_km=5)
    add_agency(session, *moved(LON, LAT, 90, 21_000), radius_km=5)
    add_agency(session, *moved(LON, LAT, 180, 29_000), radius_km=5)
    add_agency(session, *moved(LON, LAT, 270, 35_000), radius_km=5)

    reaches = [c.reach for c in match_lead(session, lead_at(LON, LAT), RULES)]

    assert reaches == ["zone", "extended_30", "extended_30"]


def test_paused_and_suspended_agencies_are_never_candidates(session) -> None:
    add_agency(session, *moved(LON, LAT, 0, 1_000), paused=True)
    add_agency(session, *moved(LON, LAT, 0, 1_000), status="suspended")
    add_agency(session, 4.8357, 45.7640, paused=True, communes=("35238",))
    add_agency(session, *moved(LON, LAT, 90, 25_000), radius_km=5, paused=True)
    active = add_agency(session, *moved(LON, LAT, 0, 2_000))

    found = match_lead(session, lead_at(LON, LAT, commune="35238"), RULES)

    assert [c.agency_id for c in found] == [active]


def test_an_agency_with_no_budget_left_is_not_a_candidate(session) -> None:
    broke = add_agency(session, *moved(LON, LAT, 0, 1_000))
    funded = add_agency(session, *moved(LON, LAT, 0, 2_000))
    session.execute(
        text("UPDATE agency SET monthly_budget_cents = CASE WHEN id = :b THEN 0 ELSE 5000 END"),
        {"b": broke},
    )

    assert [c.agency_id for c in match_lead(session, lead_at(LON, LAT), RULES)] == [funded]


def test_an_agency_that_spent_its_monthly_budget_is_not_a_candidate(session) -> None:
    """The month's spend (Paris time) against the budget: spent in full this month, not named;
    the same spend last month does not count."""
    spent = add_agency(session, *moved(LON, LAT, 0, 1_000))
    last_month = add_agency(session, *moved(LON, LAT, 0, 1_500))
    room = add_agency(session, *moved(LON, LAT, 0, 2_000))
    session.execute(text("UPDATE agency SET monthly_budget_cents = 5000"))
    session.execute(
        text("""
            INSERT INTO agency_month_spend (agency_id, month, cents) VALUES
                (:spent, paris_month(now()), 5000),
                (:last, paris_month(now()) - interval '1 month', 5000),
                (:room, paris_month(now()), 4999)
        """),
        {"spent": spent, "last": last_month, "room": room},
    )

    found = [c.agency_id for c in match_lead(session, lead_at(LON, LAT), RULES)]

    assert found == [last_month, room]


def test_at_most_max_named_agencies_are_named_the_nearest_ones(session) -> None:
    ids = [add_agency(session, *moved(LON, LAT, 10 * i, 500 * (i + 1))) for i in range(8)]

    found = match_lead(session, lead_at(LON, LAT), MatchingRules(max_named_agencies=5))

    assert [c.agency_id for c in found] == ids[:5]


def test_the_rules_come_from_the_settings_table(session) -> None:
    for i in range(6):
        add_agency(session, *moved(LON, LAT, 60 * i, 1_000 * (i + 1)))
    session.execute(text("UPDATE setting SET value = '4' WHERE key = 'max_named_agencies'"))

    assert len(match_lead(session, lead_at(LON, LAT))) == 4


@pytest.mark.parametrize(
    ("postal_code", "city", "departement"),
    [
        ("97400", "Saint-Denis", "974"),
        ("97300", "Cayenne", "973"),
        ("97600", "Mamoudzou", "976"),
        ("97200", "Fort-de-France", "972"),
        ("97110", "Pointe-à-Pitre", "971"),
        ("20000", "Ajaccio", "2A"),
    ],
)
def test_overseas_and_corsican_leads_match_their_local_agencies(
    session, postal_code: str, city: str, departement: str
) -> None:
    place = locate(session, postal_code, city)
    local = add_agency(session, *moved(place.lon, place.lat, 45, 8_000))

    found = match_lead(session, place, RULES)

    assert place.departement_code == departement
    assert [(c.agency_id, c.reach) for c in found] == [(local, "zone")]
    assert found[0].distance_m == pytest.approx(8_000, abs=0.01)


@pytest.mark.parametrize(("setting", "prepared"), [("1", True), ("0", False)])
def test_with_mandat_db_prepare_0_nothing_is_prepared_on_the_server(
    database_url, session, setting, prepared
) -> None:
    # Behind a transaction-pooling proxy a statement prepared on one server connection is
    # unknown on the next: MANDAT_DB_PREPARE=0 must hold for the matching query too.
    add_agency(session, -1.68, 48.11)
    session.commit()
    code = (
        "from sqlalchemy import text\n"
        "from engine.db import unit_of_work\n"
        "from engine.geo.locate import locate\n"
        "from engine.matching.service import match_lead\n"
        "with unit_of_work() as s:\n"
        "    for _ in range(3):\n"
        "        found = match_lead(s, locate(s, '35000', 'Rennes'))\n"
        "    held = s.execute(text('SELECT count(*) FROM pg_prepared_statements')).scalar_one()\n"
        "    print(len(found), held)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=process_env(database_url, MANDAT_DB_PREPARE=setting),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )

    found, held = (int(x) for x in done.stdout.split())
    assert found == 1
    assert (held > 0) is prepared
