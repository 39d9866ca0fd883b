"""Engagement events: every real view, story open, tick and download, with its time."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, one_of, partial_index, utcnow


class EventKind(StrEnum):
    VIEW = "view"
    STORY = "story"
    CHECKLIST = "checklist"
    CALENDAR = "calendar"
    # A link scanner, chat preview or bot fetched a page: stored, never counted as a visit.
    PREFETCH = "prefetch"


class Device(StrEnum):
    MOBILE = "mobile"
    TABLET = "tablet"
    DESKTOP = "desktop"
    BOT = "bot"
    UNKNOWN = "unknown"


class EngagementEvent(Base):
    __tablename__ = "engagement_event"
    __table_args__ = (
        sa.Index("ix_engagement_event_candidate_occurred", "candidate_id", "occurred_at"),
        # Which stories a candidate opened (the Friday story skips them): the few story events alone, not every
        # page view (services.automations spells the same condition).
        partial_index("ix_engagement_event_story_read", "candidate_id", "target", where="kind = 'story'"),
        one_of("kind", EventKind),
        one_of("device", Device),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(sa.ForeignKey("portal_link.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(sa.String(12))
    # What was viewed: a page name, a story id, a checklist item id.
    target: Mapped[str] = mapped_column(sa.String(40), default="")
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    device: Mapped[str] = mapped_column(sa.String(8), default=Device.UNKNOWN)
