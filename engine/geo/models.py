"""Reference geography: communes (with Paris/Lyon/Marseille arrondissements) and postal codes."""

from __future__ import annotations

from geoalchemy2 import Geography, Geometry, WKBElement
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base


class Departement(Base):
    __tablename__ = "departement"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    region_code: Mapped[str] = mapped_column(String(3))


class Commune(Base):
    """A commune (`COM`) or a municipal arrondissement (`ARM`) of Paris, Lyon or Marseille."""

    __tablename__ = "commune"
    __table_args__ = (
        CheckConstraint("kind IN ('COM', 'ARM')", name="kind"),
        CheckConstraint("code ~ '^[0-9][0-9AB][0-9]{3}$'", name="insee_code"),
        Index("ix_commune_boundary", "boundary", postgresql_using="gist"),
    )

    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    # Lower-case ASCII words, for matching what a person types as the city.
    search_name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(3))
    departement_code: Mapped[str] = mapped_column(ForeignKey("departement.code"))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("commune.code"))
    population: Mapped[int | None] = mapped_column(Integer)
    boundary: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    # The town hall, else a point inside the commune: where a lead without an address is placed.
    town_hall: Mapped[WKBElement] = mapped_column(
        Geography("POINT", srid=4326, spatial_index=False)
    )


class PostalCode(Base):
    __tablename__ = "postal_code"
    __table_args__ = (
        CheckConstraint("postal_code ~ '^[0-9]{5}$'", name="format"),
        Index("ix_postal_code_commune_code", "commune_code"),
    )

    postal_code: Mapped[str] = mapped_column(String(5), primary_key=True)
    commune_code: Mapped[str] = mapped_column(ForeignKey("commune.code"), primary_key=True)


class CommuneAlias(Base):
    """A former name of a commune (a commune déléguée or associée), still used in addresses."""

    __tablename__ = "commune_alias"

    commune_code: Mapped[str] = mapped_column(
        ForeignKey("commune.code", ondelete="CASCADE"), primary_key=True
    )
    search_name: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)


class DatasetLoad(Base):
    """Which version of each reference dataset is loaded, so that loading twice is a no-op."""

    __tablename__ = "dataset_load"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer)
