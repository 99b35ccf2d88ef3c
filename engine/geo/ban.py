"""`mandat ban import`: the Base Adresse Nationale's per-département files → address points.

The BAN publishes one semicolon-separated file per département (`adresses-35.csv.gz`), one row
per address point: its number and repetition index (bis, ter, a…), its street or lieu-dit
(`nom_voie`), an optional lieu-dit complement (`nom_ld`), commune, postal code and WGS-84 point.
The files are streamed into a staging table by COPY; the address points replace those of the
départements the files cover (importing a newer file, or the same one twice, leaves one copy),
and the streets are derived from them: the name, the centre of the points and how many there
are, for the form's suggestions and for placing a lead whose number is not known.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

from engine.errors import MandatError
from engine.geo.street_names import street_key
from engine.progress import Progress, quiet

# The columns of the published files, in file order (adresse.data.gouv.fr, `adresses-XX.csv`).
LAYOUT = (
    "id", "id_fantoir", "numero", "rep", "nom_voie", "code_postal", "code_insee", "nom_commune",
    "code_insee_ancienne_commune", "nom_ancienne_commune", "x", "y", "lon", "lat",
    "type_position", "alias", "nom_ld", "libelle_acheminement", "nom_afnor", "source_position",
    "source_nom_voie", "certification_commune", "cad_parcelles",
)  # fmt: skip
# What the import needs, by header name: a file with more columns (a later release) is read too.
REQUIRED = ("id", "numero", "rep", "nom_voie", "code_postal", "code_insee", "lon", "lat")
# The number the BAN gives a lieu-dit that has no address number.
NO_NUMBER = 99_999


class BanFormatError(MandatError):
    code = "ban_format"


@dataclass(frozen=True)
class BanImportReport:
    rows: int
    addresses: int  # the address points the départements covered now hold
    written: int  # of which new or changed
    removed: int  # points of those départements the files no longer hold
    streets: int
    departements: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.rows:,} rows → {self.addresses:,} address points ({self.written:,} new or"
            f" changed, {self.removed:,} removed) and {self.streets:,} streets or lieux-dits in"
            f" département(s) {', '.join(self.departements) or 'none'}"
        )


def departement_of(commune_code: str) -> str:
    """`35238` → `35`; overseas `97411` → `974`; Corsica `2A004` → `2A`."""
    return commune_code[:3] if commune_code.startswith("97") else commune_code[:2]


def _open(path: Path) -> IO[str]:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _rows(path: Path) -> Iterator[tuple[Any, ...]]:
    """(id, département, commune, postal code, street, its key, lieu-dit, its key, number, rep,
    lon, lat) of each located address point of a file."""
    try:
        with _open(path) as handle:
            reader = csv.reader(handle, delimiter=";")
            header = next(reader, None)
            if header is None:
                raise BanFormatError(f"{path.name}: empty file, not a BAN address file")
            position = {name.strip().lstrip("\ufeff"): i for i, name in enumerate(header)}
            missing = [c for c in REQUIRED if c not in position]
            if missing:
                raise BanFormatError(
                    f"{path.name}: not a BAN address file: no {', '.join(missing)} column (the"
                    " BAN's adresses-XX.csv files are semicolon-separated)"
                )
            at = [position[c] for c in REQUIRED]
            ld = position.get("nom_ld")
            width = max([*at, ld or 0]) + 1
            for row in reader:
                if len(row) >= width and (address := _address(row, at, ld)) is not None:
                    yield address
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error, csv.Error) as error:
        raise BanFormatError(f"{path.name}: not a BAN address file ({error})") from None


def _address(row: list[str], at: list[int], ld: int | None) -> tuple[Any, ...] | None:
    """The row as staged; None for a row without a street, commune or point."""
    ban_id, numero, rep, street, postal_code, commune, lon, lat = (row[i].strip() for i in at)
    if not (ban_id and street and commune and lon and lat):
        return None
    try:
        point = (float(lon), float(lat))
    except ValueError:
        return None
    number = int(numero) if numero.isdigit() else None
    if number is not None and number >= NO_NUMBER:
        number = None
    lieu_dit = row[ld].strip() if ld is not None else ""
    return (
        ban_id, departement_of(commune), commune, postal_code or None, street, street_key(street),
        lieu_dit or None, street_key(lieu_dit) if lieu_dit else None, number, rep.lower(), *point,
    )  # fmt: skip


_STAGE = """
    CREATE TEMP TABLE ban_row (
        id text, departement_code text, commune_code text, postal_code text, street_name text,
        street_key text, lieu_dit_name text, lieu_dit_key text, number int, rep text,
        lon float8, lat float8
    ) ON COMMIT DROP
"""
_COLUMNS = (
    "id, departement_code, commune_code, postal_code, street_name, street_key, lieu_dit_name,"
    " lieu_dit_key, number, rep, lon, lat"
)

# A release repeats most points of the previous one: they are left as they are (rewriting them
# would cost five times more than writing them into an empty table, the index entries of the
# rows just deleted being checked one by one); the new and changed ones are written, and the
# points of the covered départements the files no longer hold are deleted.
_GONE = """
    DELETE FROM ban_address a
    WHERE a.commune_code >= :low AND a.commune_code < :high
      AND NOT EXISTS (SELECT 1 FROM ban_row r WHERE r.id = a.id)
"""
_STAGED = """
    SELECT DISTINCT ON (id) id, departement_code, commune_code, postal_code, street_key,
           lieu_dit_key, number, rep,
           ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography AS location,
           CAST(:synthetic AS boolean) AS synthetic
    FROM ban_row ORDER BY id
"""
_CHANGED = f"""
    UPDATE ban_address a
    SET departement_code = s.departement_code, commune_code = s.commune_code,
        postal_code = s.postal_code, street_key = s.street_key, lieu_dit_key = s.lieu_dit_key,
        number = s.number, rep = s.rep, location = s.location, synthetic = s.synthetic
    FROM ({_STAGED}) s
    WHERE a.id = s.id
      AND (a.departement_code, a.commune_code, a.postal_code, a.street_key, a.lieu_dit_key,
           a.number, a.rep, ST_AsEWKB(a.location::geometry), a.synthetic)
          IS DISTINCT FROM
          (s.departement_code, s.commune_code, s.postal_code, s.street_key, s.lieu_dit_key,
           s.number, s.rep, ST_AsEWKB(s.location::geometry), s.synthetic)
"""
_NEW = f"""
    INSERT INTO ban_address (id, departement_code, commune_code, postal_code, street_key,
                             lieu_dit_key, number, rep, location, synthetic)
    SELECT * FROM ({_STAGED}) s
    WHERE NOT EXISTS (SELECT 1 FROM ban_address a WHERE a.id = s.id)
"""

# A street of a commune is every point under its name; a lieu-dit named as a complement
# (`nom_ld`) is a place people type too. Its point is the centre of its points.
_STREETS = """
    INSERT INTO ban_street (departement_code, commune_code, postal_code, name, search_key,
                            addresses, location, synthetic)
    SELECT min(departement_code), commune_code,
           mode() WITHIN GROUP (ORDER BY postal_code), mode() WITHIN GROUP (ORDER BY name),
           key, count(*),
           ST_Centroid(ST_Collect(ST_SetSRID(ST_MakePoint(lon, lat), 4326)))::geography,
           :synthetic
    FROM (
        SELECT departement_code, commune_code, postal_code, street_name AS name,
               street_key AS key, lon, lat
        FROM ban_row
        UNION ALL
        SELECT departement_code, commune_code, postal_code, lieu_dit_name, lieu_dit_key, lon, lat
        FROM ban_row WHERE lieu_dit_key <> '' AND lieu_dit_key <> street_key
    ) named
    WHERE key <> ''
    GROUP BY commune_code, key
"""


def import_ban(
    session: Session, paths: list[Path], synthetic: bool = False, progress: Progress | None = None
) -> BanImportReport:
    """Imports BAN address files (plain or gzip), replacing the départements they cover."""
    session.execute(text("DROP TABLE IF EXISTS ban_row"))  # an earlier import, same transaction
    session.execute(text(_STAGE))
    raw = session.connection().connection.driver_connection
    assert raw is not None
    rows = 0
    with (progress or quiet)(paths, "BAN files") as files:
        for path in files:
            with raw.cursor().copy(f"COPY ban_row ({_COLUMNS}) FROM STDIN") as copy:
                for row in _rows(Path(path)):
                    copy.write_row(row)
                    rows += 1
    session.execute(text("ANALYZE ban_row"))
    departements = tuple(
        session.execute(text("SELECT DISTINCT departement_code FROM ban_row ORDER BY 1")).scalars()
    )
    removed = 0
    for departement in departements:
        # Its communes' codes are a range (35 → [35, 36), 2A → [2A, 2B), 974 → [974, 975)):
        # the commune index finds them.
        span = {"low": departement, "high": departement[:-1] + chr(ord(departement[-1]) + 1)}
        removed += _count(session.execute(text(_GONE), span))
        session.execute(
            text("DELETE FROM ban_street WHERE commune_code >= :low AND commune_code < :high"),
            span,
        )
    flag = {"synthetic": synthetic}
    written = _count(session.execute(text(_CHANGED), flag))
    written += _count(session.execute(text(_NEW), flag))
    streets = _count(session.execute(text(_STREETS), {"synthetic": synthetic}))
    held = session.execute(text("SELECT count(DISTINCT id) FROM ban_row")).scalar_one()
    session.execute(text("ANALYZE ban_address"))
    session.execute(text("ANALYZE ban_street"))
    return BanImportReport(rows, held, written, removed, streets, departements)


def _count(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)
