"""Content the candidate page shows to everyone: checklist templates and stories."""

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class ChecklistItem(Base):
    __tablename__ = "checklist_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int]
    label_zh: Mapped[str] = mapped_column(sa.String(200))
    label_en: Mapped[str] = mapped_column(sa.String(200), default="")
    # None: every candidate; otherwise only members of that cohort.
    cohort_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cohort.id", ondelete="CASCADE"))
    # Required items are what the reminder automation chases, due this many days before the cohort starts.
    required: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    due_days_before: Mapped[int | None]

    @staticmethod
    def due_on(required: bool, due_days_before: int | None, starts_on: date | None) -> date | None:
        """The day a required item is due: its days before the cohort's first day (the reminder automation
        chases it that day); None without a due day or a cohort."""
        if not required or due_days_before is None or starts_on is None:
            return None
        return starts_on - timedelta(days=due_days_before)

    @classmethod
    def applies_to(cls, cohort_id: int | None) -> sa.ColumnElement[bool]:
        """The one rule for which items a candidate sees: everyone's, and their own cohort's."""
        if cohort_id is None:
            return cls.cohort_id.is_(None)
        return sa.or_(cls.cohort_id.is_(None), cls.cohort_id == cohort_id)


class ChecklistCompletion(Base):
    __tablename__ = "checklist_completion"

    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("checklist_item.id", ondelete="CASCADE"), primary_key=True)
    done_at: Mapped[datetime] = mapped_column(default=utcnow)


class Story(Base):
    __tablename__ = "story"
    __table_args__ = (sa.Index("ix_story_published_at", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title_zh: Mapped[str] = mapped_column(sa.String(200))
    title_en: Mapped[str] = mapped_column(sa.String(200), default="")
    summary_zh: Mapped[str] = mapped_column(sa.String(400), default="")
    summary_en: Mapped[str] = mapped_column(sa.String(400), default="")
    body_zh: Mapped[str] = mapped_column(sa.Text, default="")
    body_en: Mapped[str] = mapped_column(sa.Text, default="")
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
