"""DVF files in the real 40-column layout, written for the tests."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Any

from engine.estimation.dvf import LAYOUT

HEADER = list(LAYOUT)
TYPES = {
    "1": "Maison",
    "2": "Appartement",
    "3": "Dépendance",
    "4": "Local industriel. commercial ou assimilé",
    "": "",
}


def dvf_row(mutation: str, **fields: Any) -> dict[str, str]:
    """A row of a sale in Rennes (35238) unless told otherwise."""
    row = dict.fromkeys(HEADER, "")
    row.update({
        "id_mutation": mutation, "date_mutation": "2025-06-15", "numero_disposition": "000001",
        "nature_mutation": "Vente", "valeur_fonciere": "250000", "code_postal": "35000",
        "code_commune": "35238", "nom_commune": "Rennes", "code_departement": "35",
        "id_parcelle": f"35238000AB{mutation[-4:]}", "code_type_local": "2",
        "surface_reelle_bati": "60", "nombre_pieces_principales": "3",
        "longitude": "-1.6778", "latitude": "48.1113",
    })  # fmt: skip
    row.update({k: str(v) for k, v in fields.items()})
    row["type_local"] = TYPES.get(row["code_type_local"], "")
    return row


def write_dvf(path: Path, rows: list[dict[str, str]], gz: bool = False) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER)
    writer.writeheader()
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path
