"""API keys: random secrets shown once, stored as argon2 hashes, each carrying one role."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.agencies import models as _agencies  # noqa: F401 - the table our foreign key names
from engine.db import Base

STAFF_ROLES = ("admin", "finance")
AGENCY_ROLES = ("owner", "buyer", "viewer")


class ApiKey(Base):
    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'finance', 'owner', 'buyer', 'viewer')", name="role"),
        # Staff keys belong to no agency; agency keys always to exactly one.
        CheckConstraint("(role IN ('admin', 'finance')) = (agency_id IS NULL)", name="role_scope"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    # The public part of the key, used to find the row; the rest is only ever hashed.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    agency_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agency.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(Text, server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Chosen at issue (none: until revoked); from then on the key is refused like a revoked one.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Written at most once an hour per key (engine.accounts.authentication.USE_RESOLUTION_S).
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
