"""Importing the public geolocated DVF files: one comparable per single-dwelling sale."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from engine.estimation.dvf import DvfFormatError, import_dvf
from tests.dvf_files import dvf_row, write_dvf


def sales(session) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    rows = session.execute(
        text("""
        SELECT mutation_id, property_type, price_cents, surface_m2::float AS surface, rooms,
               land_m2, located_at_town_hall, ST_X(location::geometry) AS lon, synthetic
        FROM comparable_sale""")
    ).mappings()
    return {r["mutation_id"]: dict(r) for r in rows}


def test_a_house_sold_with_its_garage_and_two_parcels_is_one_comparable(
    session, tmp_path: Path
) -> None:
    path = write_dvf(
        tmp_path / "35.csv",
        [
            dvf_row(
                "2025-0001",
                code_type_local="1",
                surface_reelle_bati="110",
                nombre_pieces_principales="5",
                id_parcelle="35238000AB0001",
                code_nature_culture="S",
                surface_terrain="400",
                valeur_fonciere="389000",
            ),
            dvf_row(
                "2025-0001",
                code_type_local="3",
                surface_reelle_bati="",
                nombre_pieces_principales="0",
                id_parcelle="35238000AB0001",
                code_nature_culture="S",
                surface_terrain="400",
                valeur_fonciere="389000",
            ),
            dvf_row(
                "2025-0001",
                code_type_local="",
                surface_reelle_bati="",
                id_parcelle="35238000AB0002",
                code_nature_culture="J",
                surface_terrain="250",
                valeur_fonciere="389000",
                longitude="",
                latitude="",
            ),
        ],
    )

    report = import_dvf(session, [path])

    assert (report.rows, report.mutations, report.sales_kept) == (3, 1, 1)
    house = sales(session)["2025-0001"]
    assert (house["property_type"], house["price_cents"], house["surface"]) == (
        "maison",
        38_900_000,
        110.0,
    )
    assert (house["rooms"], house["land_m2"]) == (5, 650)


@pytest.mark.parametrize(
    ("label", "rows"),
    [
        ("two dwellings", [dvf_row("2025-0002"), dvf_row("2025-0002", surface_reelle_bati="45")]),
        (
            "with a shop",
            [
                dvf_row("2025-0003"),
                dvf_row("2025-0003", code_type_local="4", surface_reelle_bati="80"),
            ],
        ),
        (
            "off-plan sale",
            [dvf_row("2025-0004", nature_mutation="Vente en l'état futur d'achèvement")],
        ),
        ("exchange", [dvf_row("2025-0005", nature_mutation="Echange")]),
        ("no price", [dvf_row("2025-0006", valeur_fonciere="")]),
        ("no surface", [dvf_row("2025-0007", surface_reelle_bati="")]),
        ("outbuilding only", [dvf_row("2025-0008", code_type_local="3")]),
        (
            "unknown commune",
            [dvf_row("2025-0009", code_commune="99999", longitude="", latitude="")],
        ),
    ],
)
def test_sales_that_are_no_single_dwelling_comparable_are_left_out(
    session, tmp_path: Path, label: str, rows: list
) -> None:
    report = import_dvf(session, [write_dvf(tmp_path / "x.csv", rows)])

    assert report.sales_kept == 0, label
    assert sales(session) == {}


def test_a_sale_without_coordinates_is_placed_at_its_town_hall(session, tmp_path: Path) -> None:
    path = write_dvf(tmp_path / "x.csv", [dvf_row("2025-0010", longitude="", latitude="")])

    import_dvf(session, [path])

    sale = sales(session)["2025-0010"]
    assert sale["located_at_town_hall"]
    assert sale["lon"] == pytest.approx(-1.67494, abs=1e-4)


def test_decimal_commas_and_gzip_files_are_read(session, tmp_path: Path) -> None:
    path = write_dvf(
        tmp_path / "x.csv.gz",
        [
            dvf_row(
                "2025-0011",
                valeur_fonciere="199999,50",
                surface_reelle_bati="52,5",
                longitude="-1,6778",
                latitude="48,1113",
            ),
        ],
        gz=True,
    )

    import_dvf(session, [path])

    sale = sales(session)["2025-0011"]
    assert (sale["price_cents"], sale["surface"]) == (19_999_950, 52.5)


def test_importing_a_newer_release_replaces_its_slices(session, tmp_path: Path) -> None:
    first = write_dvf(
        tmp_path / "a.csv",
        [
            dvf_row("2025-0012"),
            dvf_row("2025-0013"),
            dvf_row("2024-0001", date_mutation="2024-03-01"),
        ],
    )
    newer = write_dvf(tmp_path / "b.csv", [dvf_row("2025-0012", valeur_fonciere="260000")])

    import_dvf(session, [first])
    import_dvf(session, [first])
    assert len(sales(session)) == 3
    import_dvf(session, [newer])

    kept = sales(session)
    assert sorted(kept) == ["2024-0001", "2025-0012"]  # the 2025 slice of 35 is replaced
    assert kept["2025-0012"]["price_cents"] == 26_000_000


def test_a_file_that_is_not_dvf_is_refused_with_its_reason(session, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2,3\n")

    with pytest.raises(DvfFormatError, match="missing id_mutation"):
        import_dvf(session, [path])
