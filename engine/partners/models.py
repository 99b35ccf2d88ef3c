"""A partner: a site that embeds the estimation form, registered by platform staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base


class Partner(Base):
    __tablename__ = "partner"
    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9][a-z0-9._-]{0,63}$'", name="slug"),
        CheckConstraint("cardinality(allowed_origins) BETWEEN 1 AND 20", name="origins"),
    )

    # The `source` of the embed script (`data-source`) and of the form's URL.
    slug: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    # The origins (scheme://host[:port]) whose pages may frame the form for this partner.
    allowed_origins: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
