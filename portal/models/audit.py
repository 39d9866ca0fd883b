"""Append-only audit log of every staff change and every security-relevant event."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(60))
    object_type: Mapped[str] = mapped_column(sa.String(30), default="")
    object_id: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(sa.String(20), default="ok")
    request_id: Mapped[str] = mapped_column(sa.String(36), default="")
    # First three octets (IPv4) or /48 (IPv6): enough to spot abuse, not to identify a person.
    ip_prefix: Mapped[str] = mapped_column(sa.String(45), default="")
    detail: Mapped[str] = mapped_column(sa.String(500), default="")

    actor = relationship("User")
