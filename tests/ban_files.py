"""BAN files in the published layout, written for the tests from the demo's generator."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from engine.demo.ban import Address, addresses, towns, write_ban

# Arrondissements of Paris (two: a boulevard crosses them), Lyon and Marseille, an overseas
# commune (Saint-Denis, La Réunion) and Rennes.
COMMUNES = ("75111", "75120", "69383", "13208", "97411", "35238")
NUMBERS_PER_STREET = 61


def national_sample(session: Session) -> list[Address]:
    """At least 10,000 address points over the communes above."""
    rows = [a for town in towns(session, COMMUNES) for a in addresses(town, NUMBERS_PER_STREET)]
    assert len(rows) >= 10_000, len(rows)
    return rows


def write_sample(session: Session, path: Path, gz: bool = True) -> tuple[Path, list[Address]]:
    rows = national_sample(session)
    return write_ban(path, rows, gz=gz), rows
