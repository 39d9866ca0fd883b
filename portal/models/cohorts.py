"""Monthly training cohorts and their curriculum."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base


class Cohort(Base):
    __tablename__ = "cohort"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    place_zh: Mapped[str] = mapped_column(sa.String(200))
    place_en: Mapped[str] = mapped_column(sa.String(200), default="")
    address: Mapped[str] = mapped_column(sa.String(300))
    map_url: Mapped[str | None] = mapped_column(sa.String(500))
    capacity: Mapped[int] = mapped_column(default=30)
    bring_zh: Mapped[str] = mapped_column(sa.Text, default="")
    bring_en: Mapped[str] = mapped_column(sa.Text, default="")


class CohortSession(Base):
    """One block of the curriculum: a day or half-day with its topic."""

    __tablename__ = "cohort_session"
    __table_args__ = (sa.Index("ix_cohort_session_cohort_starts", "cohort_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(sa.ForeignKey("cohort.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    title_zh: Mapped[str] = mapped_column(sa.String(200))
    title_en: Mapped[str] = mapped_column(sa.String(200), default="")
    detail_zh: Mapped[str] = mapped_column(sa.Text, default="")
    detail_en: Mapped[str] = mapped_column(sa.Text, default="")
