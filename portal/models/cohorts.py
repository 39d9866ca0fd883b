"""Monthly training cohorts, their curriculum, who waits for a place, and the stores hires go to after."""

from datetime import date, datetime
from enum import StrEnum
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, validates

from portal.models.base import Base, one_of


def is_web_url(url: str | None) -> bool:
    """An absolute http(s) address: the only kind of link we store or render (no javascript:, data: …)."""
    if not url or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def one_line(text: str) -> str:
    """Line breaks and other control characters as single spaces (names end up in headers and calendars)."""
    return " ".join("".join(" " if ord(ch) < 32 or ch in "\u2028\u2029" else ch for ch in text).split())


class CohortStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"  # its members stay in it (HR move them on); their calendars show it cancelled


class Cohort(Base):
    __tablename__ = "cohort"
    __table_args__ = (one_of("status", CohortStatus), sa.Index("ix_cohort_starts_on", "starts_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    site: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")  # the training site
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    place_zh: Mapped[str] = mapped_column(sa.String(200))
    place_en: Mapped[str] = mapped_column(sa.String(200), default="")
    address: Mapped[str] = mapped_column(sa.String(300))
    map_url: Mapped[str | None] = mapped_column(sa.String(500))
    capacity: Mapped[int] = mapped_column(default=30)
    bring_zh: Mapped[str] = mapped_column(sa.Text, default="")
    bring_en: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(10), default=CohortStatus.OPEN, server_default="open")
    # Bumped on every change its members' calendars show (dates, place, sessions, cancelling): with the
    # candidate's own counter it is each calendar event's SEQUENCE (portal.candidate.calendar).
    revision: Mapped[int] = mapped_column(default=0, server_default="0")
    # The start before the latest reschedule, so pages can say "moved from …".
    previous_starts_on: Mapped[date | None]
    cancelled_at: Mapped[datetime | None]

    @property
    def cancelled(self) -> bool:
        return self.status == CohortStatus.CANCELLED

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
    trainer: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")
    room: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")
    # Removed from the curriculum: kept so that subscribed calendars are told it is cancelled (same UID).
    removed_at: Mapped[datetime | None]


class WaitlistEntry(Base):
    """A candidate waiting for a place in a full cohort; the first by ``passed_at`` gets the next free place."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (
        sa.UniqueConstraint("cohort_id", "candidate_id"),
        sa.Index("ix_waitlist_entry_order", "cohort_id", "passed_at", "id"),
        sa.Index("ix_waitlist_entry_candidate", "candidate_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(sa.ForeignKey("cohort.id", ondelete="CASCADE"))
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    # When the candidate passed (reached the pipeline's first stage): the waitlist's order.
    passed_at: Mapped[datetime]
    added_at: Mapped[datetime]


class PastMembership(Base):
    """A cohort a candidate was moved out of, and when: their calendar shows its events as cancelled."""

    __tablename__ = "past_membership"

    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"), primary_key=True)
    cohort_id: Mapped[int] = mapped_column(sa.ForeignKey("cohort.id", ondelete="CASCADE"), primary_key=True)
    left_at: Mapped[datetime]


class CalendarFeed(Base):
    """A calendar subscription URL of a candidate's. Like a portal link, only the SHA-256 of its token is kept;
    it expires by the portal link's rule (counted from their cohort's start at each fetch, so a move to a
    later cohort carries it along) and is revoked when their links are (services.links)."""

    __tablename__ = "calendar_feed"
    __table_args__ = (sa.Index("ix_calendar_feed_candidate_id", "candidate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_fetched_at: Mapped[datetime | None]


class Store(Base):
    """A store a hire joins after training, with how many places it has for new hires."""

    __tablename__ = "store"
    __table_args__ = (sa.Index("ix_store_district_name", "district", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    district: Mapped[str] = mapped_column(sa.String(60), default="")
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    open_places: Mapped[int] = mapped_column(default=1)

    @validates("name", "district")
    def _single_line(self, _key: str, text: str) -> str:
        return one_line(text)
