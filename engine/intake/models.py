"""Step 1 of the form: an estimation request, before any personal data."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geography, WKBElement
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Numeric, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base


class Estimation(Base):
    __tablename__ = "estimation"
    __table_args__ = (
        CheckConstraint(
            "property_type IN ('appartement', 'maison', 'terrain', 'autre')", name="property_type"
        ),
        CheckConstraint("surface_m2 BETWEEN 5 AND 10000", name="surface"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str | None] = mapped_column(Text)
    property_type: Mapped[str] = mapped_column(String(16))
    surface_m2: Mapped[float] = mapped_column(Numeric(8, 2))
    # Every property fact as given (rooms, floor, lift, …), for the lead and the catalogue.
    property: Mapped[dict[str, Any]] = mapped_column(JSONB)
    postal_code: Mapped[str] = mapped_column(String(5))
    commune_code: Mapped[str] = mapped_column(ForeignKey("commune.code"))
    location: Mapped[WKBElement] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    location_precision: Mapped[str] = mapped_column(String(16))
    estimate: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The agencies named to the homeowner, ranked, with reach and distance, and the rules used.
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    matching_rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
