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
        Index("ix_commune_parent_code", "parent_code"),
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


class BanAddress(Base):
    """An address point of the Base Adresse Nationale: a number (and its bis, ter…) on a street
    or a lieu-dit of a commune. Loaded by `mandat ban import`, one département at a time."""

    __tablename__ = "ban_address"
    # One narrow index: a number recurs a few hundred times in a commune at most, so the street
    # (or lieu-dit) is filtered on those rows; it also finds a département's rows to replace
    # (a range of commune codes). Fewer, narrower indexes make the import faster.
    __table_args__ = (Index("ix_ban_address_commune_code_number", "commune_code", "number"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    departement_code: Mapped[str] = mapped_column(String(3))
    # The commune as the BAN names it (an arrondissement in Paris, Lyon and Marseille).
    commune_code: Mapped[str] = mapped_column(String(5))
    postal_code: Mapped[str | None] = mapped_column(String(5))
    # Street and lieu-dit names reduced to comparable words (`engine.geo.street_names`).
    street_key: Mapped[str] = mapped_column(Text)
    lieu_dit_key: Mapped[str | None] = mapped_column(Text)
    number: Mapped[int | None] = mapped_column(Integer)
    # The repetition index, lower case: "" for none, "bis", "ter", "a", "b"…
    rep: Mapped[str] = mapped_column(Text)
    location: Mapped[WKBElement] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    synthetic: Mapped[bool]


class BanStreet(Base):
    """A street or lieu-dit of a commune, derived from its address points on import: the name
    the form suggests, and the centre of its points where a lead is placed when its number is
    not known."""

    __tablename__ = "ban_street"
    __table_args__ = (
        Index("ix_ban_street_commune_code_search_key", "commune_code", "search_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    departement_code: Mapped[str] = mapped_column(String(3))
    commune_code: Mapped[str] = mapped_column(String(5))
    postal_code: Mapped[str | None] = mapped_column(String(5))
    name: Mapped[str] = mapped_column(Text)
    search_key: Mapped[str] = mapped_column(Text)
    addresses: Mapped[int] = mapped_column(Integer)
    location: Mapped[WKBElement] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    synthetic: Mapped[bool]
