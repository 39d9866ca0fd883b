"""Engagement events: every real view, story open, tick and download, with its time."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow

# "prefetch": a link scanner or preview fetched /c/<token> without following the redirect.
KINDS = ("view", "story", "checklist", "calendar", "prefetch")
DEVICES = ("mobile", "tablet", "desktop", "bot", "unknown")


class EngagementEvent(Base):
    __tablename__ = "engagement_event"
    __table_args__ = (sa.Index("ix_engagement_event_candidate_occurred", "candidate_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(sa.ForeignKey("portal_link.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(sa.String(12))
    # What was viewed: a page name, a story id, a checklist item id.
    target: Mapped[str] = mapped_column(sa.String(40), default="")
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    device: Mapped[str] = mapped_column(sa.String(8), default="unknown")
