"""`mandat dvf import`: the public geolocated DVF files → comparable sales.

One DVF row is one disposition × parcel × local, and the mutation's price is repeated on every
row. We keep sales (`Vente`) of exactly one dwelling (a house or an apartment) with no business
premises; outbuildings (`Dépendance`) and land come along. The file is streamed into a staging
table and grouped per mutation in SQL. A file covers slices (year × département): importing a
newer release of a slice replaces it whole, so that importing twice changes nothing.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

from engine.errors import MandatError
from engine.progress import Progress, quiet

# The 40 columns of the geolocated DVF files, in file order (Etalab's layout).
LAYOUT = (
    "id_mutation", "date_mutation", "numero_disposition", "nature_mutation", "valeur_fonciere",
    "adresse_numero", "adresse_suffixe", "adresse_nom_voie", "adresse_code_voie", "code_postal",
    "code_commune", "nom_commune", "code_departement", "ancien_code_commune",
    "ancien_nom_commune", "id_parcelle", "ancien_id_parcelle", "numero_volume", "lot1_numero",
    "lot1_surface_carrez", "lot2_numero", "lot2_surface_carrez", "lot3_numero",
    "lot3_surface_carrez", "lot4_numero", "lot4_surface_carrez", "lot5_numero",
    "lot5_surface_carrez", "nombre_lots", "code_type_local", "type_local", "surface_reelle_bati",
    "nombre_pieces_principales", "code_nature_culture", "nature_culture",
    "code_nature_culture_speciale", "nature_culture_speciale", "surface_terrain", "longitude",
    "latitude",
)  # fmt: skip
# The columns we read, by header name (lots are not needed).
COLUMNS = (
    "id_mutation", "date_mutation", "nature_mutation", "valeur_fonciere", "code_commune",
    "code_departement", "id_parcelle", "code_type_local", "surface_reelle_bati",
    "nombre_pieces_principales", "code_nature_culture", "surface_terrain", "longitude", "latitude",
)  # fmt: skip
BATCH = 10_000


class DvfFormatError(MandatError):
    code = "dvf_format"


@dataclass(frozen=True)
class ImportReport:
    rows: int
    mutations: int
    sales_kept: int
    slices: int

    def __str__(self) -> str:
        return (
            f"{self.rows:,} rows, {self.mutations:,} mutations → {self.sales_kept:,} "
            f"single-dwelling sales kept in {self.slices} slice(s)"
        )


def _open(path: Path) -> IO[str]:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _rows(path: Path) -> Iterator[tuple[str, ...]]:
    with _open(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DvfFormatError(f"{path.name}: empty file")
        position = {name.strip(): i for i, name in enumerate(header)}
        missing = [c for c in COLUMNS if c not in position]
        if missing:
            raise DvfFormatError(f"{path.name}: not a DVF file, missing {', '.join(missing)}")
        picks = [position[c] for c in COLUMNS]
        for row in reader:
            if len(row) >= len(header):
                yield tuple(row[i] for i in picks)


_STAGE = f"CREATE TEMP TABLE dvf_row ({', '.join(c + ' text' for c in COLUMNS)}) ON COMMIT DROP"

# Numbers may use a decimal comma (DGFiP's own files) or a point (Etalab's).
_NUM = "nullif(replace({0}, ',', '.'), '')::numeric"

_KEEP = f"""
    WITH typed AS (
        SELECT id_mutation, date_mutation::date AS sold_on, nature_mutation,
               {_NUM.format("valeur_fonciere")} AS price,
               code_commune, code_departement, id_parcelle, code_type_local,
               {_NUM.format("surface_reelle_bati")} AS surface,
               nullif(nombre_pieces_principales, '')::int AS rooms,
               code_nature_culture, {_NUM.format("surface_terrain")} AS land,
               {_NUM.format("longitude")} AS lon, {_NUM.format("latitude")} AS lat
        FROM dvf_row
    ), mutation AS (
        SELECT id_mutation,
               min(sold_on) AS sold_on,
               bool_and(nature_mutation = 'Vente') AS is_sale,
               count(DISTINCT price) AS prices,
               max(price) AS price,
               count(DISTINCT (code_type_local, surface, rooms))
                   FILTER (WHERE code_type_local IN ('1', '2')) AS dwellings,
               count(*) FILTER (WHERE code_type_local = '4') AS business,
               min(code_departement) AS departement_code
        FROM typed GROUP BY id_mutation
    ), dwelling AS (
        SELECT DISTINCT ON (id_mutation) id_mutation, code_type_local, surface, rooms,
               code_commune, lon, lat
        FROM typed WHERE code_type_local IN ('1', '2')
        ORDER BY id_mutation, lon IS NULL, surface DESC NULLS LAST
    ), land AS (
        SELECT id_mutation, sum(land) AS land_m2
        FROM (SELECT DISTINCT id_mutation, id_parcelle, code_nature_culture, land
              FROM typed WHERE land IS NOT NULL) AS parcels
        GROUP BY id_mutation
    )
    SELECT :source AS source,
           extract(year FROM m.sold_on)::int || '-' || m.departement_code AS slice,
           m.id_mutation, m.sold_on,
           CASE d.code_type_local WHEN '1' THEN 'maison' ELSE 'appartement' END AS property_type,
           round(m.price * 100)::bigint AS price_cents, d.surface, d.rooms,
           round(l.land_m2)::int AS land_m2, d.code_commune, c.departement_code,
           coalesce(ST_SetSRID(ST_MakePoint(d.lon, d.lat), 4326)::geography, c.town_hall)
               AS location,
           d.lon IS NULL AS located_at_town_hall, :synthetic AS synthetic
    FROM mutation m
    JOIN dwelling d USING (id_mutation)
    LEFT JOIN land l USING (id_mutation)
    JOIN commune c ON c.code = d.code_commune
    WHERE m.is_sale AND m.prices = 1 AND m.price > 0 AND m.dwellings = 1 AND m.business = 0
      AND d.surface > 0 AND m.sold_on IS NOT NULL
"""


def import_dvf(
    session: Session,
    paths: list[Path],
    source: str = "dvf",
    synthetic: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Imports DVF files (plain or gzip) as comparable sales, replacing the slices they cover."""
    session.execute(
        text("DROP TABLE IF EXISTS dvf_row, dvf_sale")
    )  # an earlier import, same transaction
    session.execute(text(_STAGE))
    raw = session.connection().connection.driver_connection
    assert raw is not None
    rows = 0
    with (progress or quiet)(paths, "DVF files") as files:
        for path in files:
            with raw.cursor().copy(f"COPY dvf_row ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in _rows(Path(path)):
                    copy.write_row(row)
                    rows += 1
    # Statistics for the planner: without them it joins the per-mutation groups row by row.
    session.execute(text("ANALYZE dvf_row"))
    mutations = session.execute(text("SELECT count(DISTINCT id_mutation) FROM dvf_row")).scalar()
    # The per-mutation filters are beyond the planner's estimates (it expects one row and joins
    # the groups in nested loops: 35 s for 20,000 sales); hash joins take a fraction of that.
    session.execute(text("SET LOCAL enable_nestloop = off"))
    session.execute(
        text(f"CREATE TEMP TABLE dvf_sale ON COMMIT DROP AS {_KEEP}"),
        {"source": source, "synthetic": synthetic},
    )
    session.execute(text("RESET enable_nestloop"))
    slices = session.execute(text("SELECT count(DISTINCT slice) FROM dvf_sale")).scalar_one()
    session.execute(
        text(
            "DELETE FROM comparable_sale WHERE source = :source"
            " AND slice IN (SELECT DISTINCT slice FROM dvf_sale)"
        ),
        {"source": source},
    )
    inserted = session.execute(
        text("""
        INSERT INTO comparable_sale (source, slice, mutation_id, sold_on, property_type,
            price_cents, surface_m2, rooms, land_m2, commune_code, departement_code, location,
            located_at_town_hall, synthetic)
        SELECT * FROM dvf_sale
        ON CONFLICT (source, mutation_id) DO NOTHING
    """)
    )
    kept = cast(CursorResult[Any], inserted).rowcount
    session.execute(text("ANALYZE comparable_sale"))
    return ImportReport(rows=rows, mutations=mutations or 0, sales_kept=kept, slices=slices)
