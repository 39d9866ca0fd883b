"""Monthly training cohorts and their curriculum."""

from datetime import date, datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, validates

from portal.models.base import Base


def is_web_url(url: str | None) -> bool:
    """An absolute http(s) address: the only kind of link we store or render (no javascript:, data: …)."""
    if not url or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def one_line(text: str) -> str:
    """Line breaks and other control characters as single spaces (names end up in headers and calendars)."""
    return " ".join("".join(" " if ord(ch) < 32 or ch in "\u2028\u2029" else ch for ch in text).split())


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

    @validates("name")
    def _single_line(self, _key: str, name: str) -> str:
        return one_line(name)

    @validates("map_url")
    def _web_url_only(self, _key: str, url: str | None) -> str | None:
        if url and not is_web_url(url):
            raise ValueError("A map link must be an http:// or https:// address.")
        return url or None


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
