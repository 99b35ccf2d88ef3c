"""Comparable sales: one row per single-dwelling sale, from DVF or generated as demo data."""

from __future__ import annotations

from datetime import date

from geoalchemy2 import Geography, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base


class PropertySale(Base):
    """A property sold (DVF, or synthetic for the demo): a comparable of the estimator. Not a lead
    sold: those are purchases (engine/sales). The table keeps its first name."""

    __tablename__ = "comparable_sale"
    __table_args__ = (
        CheckConstraint("property_type IN ('maison', 'appartement')", name="property_type"),
        CheckConstraint("price_cents > 0", name="price"),
        CheckConstraint("surface_m2 > 0", name="surface"),
        # Where the same mutation comes from: replacing a slice replaces its sales.
        Index("uq_comparable_sale_source_mutation", "source", "mutation_id", unique=True),
        Index("ix_comparable_sale_slice", "source", "slice"),
        Index("ix_comparable_sale_location", "location", postgresql_using="gist"),
        Index("ix_comparable_sale_departement", "departement_code", "property_type"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))  # "dvf" or "demo"
    # A file's (year, département): a newer release of that slice replaces it whole.
    slice: Mapped[str] = mapped_column(Text)
    mutation_id: Mapped[str] = mapped_column(Text)
    sold_on: Mapped[date] = mapped_column(Date)
    property_type: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    surface_m2: Mapped[float] = mapped_column(Numeric(10, 2))
    rooms: Mapped[int | None] = mapped_column(Integer)
    land_m2: Mapped[int | None] = mapped_column(Integer)
    commune_code: Mapped[str] = mapped_column(String(5))
    departement_code: Mapped[str] = mapped_column(String(3))
    location: Mapped[WKBElement] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    located_at_town_hall: Mapped[bool] = mapped_column(Boolean)
    synthetic: Mapped[bool] = mapped_column(Boolean)
