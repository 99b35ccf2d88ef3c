"""Every French commune is loaded, and postal code + city finds the right one, offline."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from engine.errors import RuleViolation
from engine.geo.load import load_communes
from engine.geo.locate import locate, locate_point


def test_every_commune_of_mainland_corsica_and_overseas_is_loaded(session) -> None:
    counts = dict(
        session.execute(text("SELECT kind, count(*) FROM commune GROUP BY kind")).tuples().all()
    )
    departements = set(session.scalars(text("SELECT DISTINCT departement_code FROM commune")))

    assert counts["COM"] > 34_800
    assert counts["ARM"] == 45  # Paris 20, Marseille 16, Lyon 9
    assert {"2A", "2B", "971", "972", "973", "974", "976"} <= departements
    assert len(departements) == 101


def test_loading_again_changes_nothing(session) -> None:
    before = session.execute(text("SELECT count(*), sum(population) FROM commune")).one()

    report = load_communes(session)

    assert "already loaded" in report
    assert session.execute(text("SELECT count(*), sum(population) FROM commune")).one() == before


@pytest.mark.parametrize(
    ("postal_code", "city", "code"),
    [
        ("35000", "Rennes", "35238"),
        ("75013", "Paris", "75113"),
        ("75013", "paris 13e arrondissement", "75113"),
        ("69006", "Lyon", "69386"),
        ("13008", "Marseille", "13208"),
        ("01400", "Chatillon sur Chalaronne", "01093"),
        ("01400", "L'Abergement-Clémenciat", "01001"),
        ("20000", "Ajaccio", "2A004"),
        ("97400", "Saint-Denis", "97411"),
        ("76600", "Havre", "76351"),
        ("42000", "St Etienne", "42218"),
        ("75013", "Paris 13e", "75113"),
        ("69003", "Lyon 3ème", "69383"),
        ("59700", "Marcq-en-Baroeul", "59378"),
        ("97233", "Schoelcher", "97229"),
        ("74940", "Annecy-le-Vieux", "74010"),
        ("50100", "Cherbourg-Octeville", "50129"),
    ],
)
def test_postal_code_and_city_find_the_commune(session, postal_code, city, code) -> None:
    assert locate(session, postal_code, city).commune_code == code


def test_a_postal_code_with_one_commune_needs_no_city(session) -> None:
    assert locate(session, "35000", "").commune_code == "35238"


@pytest.mark.parametrize(
    ("postal_code", "city", "path", "code"),
    [
        ("99999", "Nulle-Part", "address.postal_code", "unknown_postal_code"),
        ("7501", "Paris", "address.postal_code", "invalid_postal_code"),
        ("75013", "Lyon", "address.city", "unknown_city"),
        ("01400", "", "address.city", "unknown_city"),
    ],
)
def test_unknown_or_ambiguous_places_are_refused_with_the_field_at_fault(
    session, postal_code, city, path, code
) -> None:
    with pytest.raises(RuleViolation) as refused:
        locate(session, postal_code, city)

    assert [(e.path, e.code) for e in refused.value.errors] == [(path, code)]


def test_coordinates_are_kept_near_the_commune_and_refused_far_from_it(session) -> None:
    near = locate(session, "35000", "Rennes", lat=48.11, lon=-1.68)
    assert (near.lat, near.lon, near.precision) == (48.11, -1.68, "coordinates")

    with pytest.raises(RuleViolation) as refused:
        locate(session, "35000", "Rennes", lat=48.86, lon=2.35)  # Paris
    assert refused.value.errors[0].code == "coordinates_far_from_commune"


def test_a_point_is_placed_in_its_arrondissement_and_refused_outside_france(session) -> None:
    assert locate_point(session, 48.8323, 2.3553).commune_code == "75113"
    assert locate_point(session, -20.8790, 55.4486).commune_code == "97411"
    with pytest.raises(RuleViolation) as refused:
        locate_point(session, 51.5072, -0.1276)  # London
    assert refused.value.errors[0].code == "outside_france"
