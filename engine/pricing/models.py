"""Every version of the price grid, kept: offers name the version they were priced with."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Identity, Integer, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from engine.accounts import models as _accounts  # noqa: F401 - the table our foreign key names
from engine.db import Base


class PriceGridVersion(Base):
    __tablename__ = "price_grid"

    version: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_key.id"))
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
