"""Importing the Base Adresse Nationale's files, and placing a typed address at its point."""

from __future__ import annotations

import gzip
import math
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from engine.demo.ban import Address, addresses, towns, write_ban
from engine.geo.addresses import place_at_street, suggest_streets
from engine.geo.ban import BanFormatError, import_ban
from engine.geo.locate import locate
from mandat.cli import main
from tests.ban_files import write_sample
from tests.dvf_files import dvf_row, write_dvf

# What a person types, the postal code and city they gave, and the address point they mean:
# (commune, street as the BAN names it, number, repetition index).
VARIANTS = [
    ("12 bd Voltaire", "75011", "Paris", ("75111", "Boulevard Voltaire", 12, "")),
    ("12 boulevard voltaire", "75011", "Paris", ("75111", "Boulevard Voltaire", 12, "")),
    ("12B, Bd Voltaire", "75011", "Paris", ("75111", "Boulevard Voltaire", 12, "")),
    ("12 BOULEVARD VOLTAIRE", "75011", "paris 11e", ("75111", "Boulevard Voltaire", 12, "")),
    ("12 Boulevard Voltair", "75011", "Paris", ("75111", "Boulevard Voltaire", 12, "")),
    ("14B, Bd Voltaire", "75011", "Paris", ("75111", "Boulevard Voltaire", 14, "bis")),
    ("14 bis boulevard Voltaire", "75011", "Paris", ("75111", "Boulevard Voltaire", 14, "bis")),
    ("14bis Bd. Voltaire", "75011", "Paris", ("75111", "Boulevard Voltaire", 14, "bis")),
    ("14 BIS BD VOLTAIRE", "75011", "Paris", ("75111", "Boulevard Voltaire", 14, "bis")),
    ("13 ter av. Jean Jaurès", "75011", "Paris", ("75111", "Avenue Jean Jaurès", 13, "ter")),
    ("13T avenue jean-jaures", "75011", "Paris", ("75111", "Avenue Jean Jaurès", 13, "ter")),
    ("52 ter av jean jaures", "75011", "Paris", ("75111", "Avenue Jean Jaurès", 52, "ter")),
    ("5 r. Victor-Hugo", "75011", "Paris", ("75111", "Rue Victor Hugo", 5, "")),
    ("5, rue Victor Hugo", "75011", "Paris", ("75111", "Rue Victor Hugo", 5, "")),
    ("8 pl de la mairie", "75011", "Paris", ("75111", "Place de la Mairie", 8, "")),
    ("8 Place de la Mairie 75011 Paris", "75011", "Paris", ("75111", "Place de la Mairie", 8, "")),
    ("3 r du gal de gaulle", "75011", "Paris", ("75111", "Rue du Général de Gaulle", 3, "")),
    ("3 rue du Général-de-Gaulle", "75011", "Paris", ("75111", "Rue du Général de Gaulle", 3, "")),
    ("3 rue du general de gaulle", "75011", "Paris", ("75111", "Rue du Général de Gaulle", 3, "")),
    ("21 r st michel", "75011", "Paris", ("75111", "Rue Saint-Michel", 21, "")),
    ("21 bis rue saint-michel", "75011", "Paris", ("75111", "Rue Saint-Michel", 21, "bis")),
    ("4 rue ste anne", "75011", "Paris", ("75111", "Rue Sainte-Anne", 4, "")),
    ("4 r. Ste-Anne", "75011", "Paris", ("75111", "Rue Sainte-Anne", 4, "")),
    ("9 av du mal foch", "75011", "Paris", ("75111", "Avenue du Maréchal Foch", 9, "")),
    ("9 avenue marechal foch", "75011", "Paris", ("75111", "Avenue du Maréchal Foch", 9, "")),
    ("10 bd du pdt wilson", "75011", "Paris", ("75111", "Boulevard du Président Wilson", 10, "")),
    ("11 rue du dr roux", "75011", "Paris", ("75111", "Rue du Docteur Roux", 11, "")),
    ("6 rue de l'eglise", "75011", "Paris", ("75111", "Rue de l'Église", 6, "")),
    ("6 rue de l église", "75011", "Paris", ("75111", "Rue de l'Église", 6, "")),
    ("2 imp. des lilas", "75011", "Paris", ("75111", "Impasse des Lilas", 2, "")),
    ("15 ch du moulin", "75011", "Paris", ("75111", "Chemin du Moulin", 15, "")),
    ("7 bis all. des tilleuls", "75011", "Paris", ("75111", "Allée des Tilleuls", 7, "bis")),
    ("1 quai des bateliers", "75011", "Paris", ("75111", "Quai des Bateliers", 1, "")),
    ("40 cours notre dame", "75011", "Paris", ("75111", "Cours Notre-Dame", 40, "")),
    ("17 sq des acacias", "75011", "Paris", ("75111", "Square des Acacias", 17, "")),
    ("12 bd Voltaire", "75020", "Paris", ("75120", "Boulevard Voltaire", 12, "")),
    ("12 bd Voltaire", "69003", "Lyon", ("69383", "Boulevard Voltaire", 12, "")),
    ("28 bis rue pasteur", "69003", "Lyon 3e", ("69383", "Rue Pasteur", 28, "bis")),
    ("39 ter Rue de la République", "13008", "Marseille",
     ("13208", "Rue de la République", 39, "ter")),
    ("35 bis rue de la republique", "13008", "Marseille",
     ("13208", "Rue de la République", 35, "bis")),
    ("2 route de la gare", "13008", "Marseille 8e", ("13208", "Route de la Gare", 2, "")),
    ("12 bd Voltaire", "97400", "Saint-Denis", ("97411", "Boulevard Voltaire", 12, "")),
    ("42 BIS AV JEAN JAURES", "97400", "St Denis", ("97411", "Avenue Jean Jaurès", 42, "bis")),
    ("1 rte de la gare", "97400", "Saint-Denis", ("97411", "Route de la Gare", 1, "")),
    ("5 le bourg", "35000", "Rennes", ("35238", "Le Bourg", 5, "")),
    ("5, Le Bourg", "35000", "Rennes", ("35238", "Le Bourg", 5, "")),
    ("3 la croix verte", "35000", "Rennes", ("35238", "La Croix Verte", 3, "")),
    ("3 La Ville Aux Roux", "35000", "Rennes", ("35238", "Route de la Gare", 3, "")),
    ("14 b bd voltaire", "35000", "Rennes", ("35238", "Boulevard Voltaire", 14, "bis")),
    ("60 Bd Voltaire", "35000", "Rennes", ("35238", "Boulevard Voltaire", 60, "")),
]  # fmt: skip


def counts(session) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return session.execute(
        text("SELECT (SELECT count(*) FROM ban_address), (SELECT count(*) FROM ban_street)")
    ).one()


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = (a[1] - b[1]) * 111_320
    east = (a[0] - b[0]) * 111_320 * math.cos(math.radians(a[1]))
    return math.hypot(north, east)


@pytest.fixture
def sample(session, tmp_path: Path) -> tuple[Path, list[Address]]:  # type: ignore[no-untyped-def]
    return write_sample(session, tmp_path / "adresses-sample.csv.gz")


def test_ten_thousand_addresses_import_and_import_again_to_the_same_rows(
    session, sample, tmp_path: Path
) -> None:
    path, rows = sample
    report = import_ban(session, [path])
    numbered = [a for a in rows if a.number is not None]
    assert report.rows == len(rows) >= 10_000
    assert report.addresses == len(rows)
    assert report.departements == ("13", "35", "69", "75", "974")
    first = counts(session)
    ids = set(session.execute(text("SELECT id FROM ban_address")).scalars())
    assert ids == {a.id for a in rows}
    assert (
        sum(1 for a in numbered if a.rep)
        == session.execute(
            text("SELECT count(*) FROM ban_address WHERE rep IN ('bis', 'ter')")
        ).scalar_one()
    )

    # The same file again, unzipped this time: nothing changes.
    plain = tmp_path / "adresses-sample.csv"
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    again = import_ban(session, [plain])
    assert again.addresses == report.addresses
    assert counts(session) == first
    assert set(session.execute(text("SELECT id FROM ban_address")).scalars()) == ids


def test_a_newer_file_replaces_its_departement_and_leaves_the_others(
    session, sample, tmp_path: Path
) -> None:
    path, rows = sample
    import_ban(session, [path])
    rennes = towns(session, ["35238"])[0]
    kept = addresses(rennes, 3)
    moved = replace(kept[0], lon=kept[0].lon + 0.001)  # a point the commune corrected
    newer = write_ban(tmp_path / "adresses-35.csv", [moved, *kept[1:]], gz=False)

    report = import_ban(session, [newer])

    assert report.departements == ("35",)
    assert report.addresses == len(kept)
    assert report.removed == sum(1 for a in rows if a.town.code == "35238") - len(kept)
    assert report.written == 1
    assert session.execute(
        text("SELECT ST_X(location::geometry) FROM ban_address WHERE id = :id"), {"id": moved.id}
    ).scalar_one() == pytest.approx(moved.lon)

    per_departement = dict(
        session.execute(text("SELECT departement_code, count(*) FROM ban_address GROUP BY 1")).all()
    )
    assert per_departement["35"] == len(addresses(rennes, 3))
    assert per_departement["75"] > 3_000  # two arrondissements, untouched
    assert {"13", "69", "974"} <= set(per_departement)
    assert (
        session.execute(
            text("SELECT count(*) FROM ban_address WHERE commune_code = '35238' AND number > 3")
        ).scalar_one()
        == 0
    )


def test_fifty_typed_variants_are_placed_at_their_address_point(session, sample) -> None:
    path, rows = sample
    import_ban(session, [path])
    points = {(a.town.code, a.street, a.number, a.rep): (a.lon, a.lat) for a in rows}
    assert len(VARIANTS) == 50

    misplaced = []
    for typed, postal_code, city, expected in VARIANTS:
        place = place_at_street(session, locate(session, postal_code, city), typed)
        found = (place.lon, place.lat)
        if place.precision != "address" or metres(found, points[expected]) > 0.5:
            misplaced.append((typed, postal_code, place.precision, expected))
    assert misplaced == []


def test_a_street_without_its_number_is_placed_at_the_centre_of_its_points(session, sample) -> None:
    path, rows = sample
    import_ban(session, [path])
    paris = locate(session, "75011", "Paris")
    voltaire = [
        (a.lon, a.lat) for a in rows if a.town.code == "75111" and a.street == "Boulevard Voltaire"
    ]
    centre = (
        sum(p[0] for p in voltaire) / len(voltaire),
        sum(p[1] for p in voltaire) / len(voltaire),
    )

    for typed in ("bd Voltaire", "999 boulevard Voltaire"):
        place = place_at_street(session, paris, typed)
        assert place.precision == "street"
        assert metres((place.lon, place.lat), centre) < 1

    nowhere = place_at_street(session, paris, "12 rue des Inventions Imaginaires")
    assert nowhere == paris  # the town hall stands
    assert nowhere.precision == "town_hall"
    lieu_dit = place_at_street(session, locate(session, "35000", "Rennes"), "Le Moulin Neuf")
    assert lieu_dit.precision == "street"


def test_without_the_ban_the_town_hall_stands(session) -> None:
    paris = locate(session, "75011", "Paris")
    assert place_at_street(session, paris, "12 bd Voltaire") == paris
    assert suggest_streets(session, "75011", "bd volt") == []


def test_streets_are_suggested_as_they_are_typed_keeping_the_number(session, sample) -> None:
    path, _ = sample
    import_ban(session, [path])

    found = suggest_streets(session, "75011", "12 bd volt")
    assert found[0].label == "12 Boulevard Voltaire"
    assert found[0].city == "Paris 11e Arrondissement"
    assert [s.label for s in suggest_streets(session, "75011", "14b bd volt")][:1] == [
        "14 b Boulevard Voltaire"
    ]
    assert "Rue Sainte-Anne" in [s.street for s in suggest_streets(session, "75011", "r ste an")]
    assert "Rue de l'Église" in [s.street for s in suggest_streets(session, "75011", "eglise")]
    assert suggest_streets(session, "75011", "b") == []  # not before two letters
    assert suggest_streets(session, "99999", "bd voltaire") == []


def test_a_file_that_is_not_the_ban_fails_with_a_one_line_reason(session, tmp_path: Path) -> None:
    dvf = write_dvf(tmp_path / "35.csv", [dvf_row("2025-0001")])
    with pytest.raises(BanFormatError, match=r"^35\.csv: not a BAN address file: no id, numero"):
        import_ban(session, [dvf])
    session.rollback()

    garbage = tmp_path / "adresses-35.csv.gz"
    garbage.write_bytes(b"\x1f\x8b" + b"\x00not really gzip" * 10)
    with pytest.raises(BanFormatError, match="not a BAN address file"):
        import_ban(session, [garbage])
    session.rollback()

    result = CliRunner().invoke(main, ["ban", "import", str(dvf)])
    assert result.exit_code == 1
    reason = result.stderr.splitlines()[-1]
    assert reason.startswith("mandat: 35.csv: not a BAN address file: no id")
    assert result.stderr.endswith(reason + "\n")
    assert counts(session) == (0, 0)
