"""The audit log: who did what to which object, append-only, never the personal data itself."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.accounts.keys import Principal
from engine.db import Base
from engine.people import models as _people  # noqa: F401 - the table our foreign key names


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_key.id"))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    # A person of an agency acting in Espace Pro (no key): who, with actor_role their role.
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agency_user.id"))
    agency_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agency.id"))
    action: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Person(Protocol):
    """A signed-in person of an agency, as the audit log names them."""

    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def role(self) -> str: ...
    @property
    def agency_id(self) -> uuid.UUID: ...


def record(
    session: Session,
    actor: Principal | Person | None,
    action: str,
    subject_type: str,
    subject_id: object,
    **details: Any,
) -> None:
    """Append one entry; ids and amounts in `details`, never a name, e-mail or phone."""
    session.add(
        AuditEntry(
            actor_key_id=actor.key_id if isinstance(actor, Principal) else None,
            actor_user_id=(
                actor.person_id
                if isinstance(actor, Principal)
                else (actor.user_id if actor is not None else None)
            ),
            actor_role=actor.role if actor else None,
            agency_id=actor.agency_id if actor else None,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            details=details,
        )
    )


def search(
    session: Session,
    action: str | None,
    subject_type: str | None,
    subject_id: str | None,
    agency_id: uuid.UUID | None,
    limit: int,
    before_id: int | None,
) -> list[AuditEntry]:
    """Newest first; `before_id` pages backwards."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    if subject_type:
        query = query.where(AuditEntry.subject_type == subject_type)
    if subject_id:
        query = query.where(AuditEntry.subject_id == subject_id)
    if agency_id:
        query = query.where(AuditEntry.agency_id == agency_id)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))
