"""Candidates, their portal links and their stage history."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from portal.i18n import LOCALES
from portal.models.base import Base, one_of, partial_index, utcnow


class Status(StrEnum):
    ACTIVE = "active"  # hired, not started: the risk rules watch them
    STARTED = "started"
    LEFT = "left"


class LeftKind(StrEnum):
    """How a candidate left before starting."""

    DECLINED = "declined"  # declined the offer
    WITHDREW = "withdrew"
    NO_SHOW = "no_show"
    UNREACHABLE = "unreachable"
    UNSUITABLE = "unsuitable"


class Tier(StrEnum):
    """Risk tiers, derived from open risk flags (models.flags.derived_tier) or set by HR."""

    A = "A"  # on track
    B = "B"  # watch
    C = "C"  # at risk
    D = "D"  # likely lost


class Channel(StrEnum):
    """How a link reached the candidate: one link per delivery."""

    QR = "qr"
    CLI = "cli"
    EMAIL = "email"
    SMS = "sms"


class Candidate(Base):
    """Someone hired and not yet started: the person the page, the flags and HR's work are about."""

    __tablename__ = "candidate"
    __table_args__ = (
        one_of("status", Status),
        one_of("left_kind", LeftKind),
        one_of("risk_tier_override", Tier),
        one_of("locale", LOCALES),
        sa.Index("ix_candidate_status_last_seen", "status", "last_seen_at"),
        # Whose candidates; with the contact due and the id, the badge counts an HR user's queue from it alone
        # (PostgreSQL keeps no row id in an index, so the id is a column of its own).
        sa.Index("ix_candidate_owner_contact", "owner_id", "next_contact_on", "status", "id"),
        # Duplicates: phone numbers are stored in E.164 and emails in lower case (services.candidates).
        sa.Index("ix_candidate_phone", "phone"),
        sa.Index("ix_candidate_email", "email"),
        # The candidates list (hr.queries.list_page): its sorts, and its filters with the owner, so that an
        # HR user's matches are found in the filter's index alone (owner = me or none).
        sa.Index("ix_candidate_cohort_owner", "cohort_id", "owner_id"),
        # Places taken in a store (services.stores), and the candidates a deleted store lets go.
        sa.Index("ix_candidate_store", "store_id", "status"),
        sa.Index("ix_candidate_name", "name", "id"),
        sa.Index("ix_candidate_created", "created_at", "id"),
        sa.Index("ix_candidate_site_owner", "site", "owner_id"),
        sa.Index("ix_candidate_position_owner", "position", "owner_id"),
        sa.Index("ix_candidate_source_owner", "source_channel", "owner_id"),
        partial_index("ix_candidate_tier_override", "risk_tier_override", where="risk_tier_override IS NOT NULL"),
        # "Contact due": the queue's filter (services.contacts keeps next_contact_on).
        sa.Index("ix_candidate_next_contact", "next_contact_on", "status", "id"),
        # The scan's stage rules: who sits in a given stage, and since when; the list's stage filter (+ owner).
        sa.Index("ix_candidate_stage_reached", "current_stage_id", "stage_reached_at", "owner_id"),
        # Small partial indexes of candidates who have not visited since their newest link, or since their
        # current stage: the scan reads them instead of every candidate (services.scan spells the same SQL).
        # The talent pool: who left with a date to contact them again, soonest first.
        partial_index("ix_candidate_talent_pool", "recontact_on", where="status = 'left' AND recontact_on IS NOT NULL"),
        partial_index(
            "ix_candidate_link_unopened",
            "link_issued_at",
            where="last_seen_at IS NULL OR last_seen_at < link_issued_at",
        ),
        partial_index(
            "ix_candidate_stage_unseen",
            "current_stage_id",
            where="last_seen_at IS NULL OR last_seen_at < stage_reached_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    position: Mapped[str] = mapped_column(sa.String(120), default="")
    site: Mapped[str] = mapped_column(sa.String(120), default="")
    source_channel: Mapped[str] = mapped_column(sa.String(60), default="")
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(sa.String(10), default=Status.ACTIVE)
    risk_tier_override: Mapped[str | None] = mapped_column(sa.String(1))
    risk_tier_override_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    risk_tier_override_at: Mapped[datetime | None]
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    # None: follow the browser's Accept-Language.
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    current_stage_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stage.id"))
    stage_reached_at: Mapped[datetime | None]
    cohort_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cohort.id", ondelete="SET NULL"))
    last_seen_at: Mapped[datetime | None]
    # When the newest unrevoked link was issued; kept by services.links so the scan needs no GROUP BY over links.
    link_issued_at: Mapped[datetime | None]
    # The newest contact HR logged in which they reached the candidate; the quiet rule reads the later of this
    # and last_seen_at. The next contact due follows from the newest contact (services.contacts).
    last_reached_at: Mapped[datetime | None]
    next_contact_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    left_kind: Mapped[str | None] = mapped_column(sa.String(12))
    left_reason_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reason.id"))
    recontact_on: Mapped[date | None]
    left_note: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    # They stopped automated messages from their page (essential ones and HR's own still come).
    messages_stopped_at: Mapped[datetime | None]
    # Where they live (a district, as stores have one): HR see the stores nearby first.
    district: Mapped[str] = mapped_column(sa.String(60), default="", server_default="")
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id", ondelete="SET NULL"))
    # They tapped "I will be there" for their current cohort's dates (cleared when the dates or cohort change).
    attendance_confirmed_at: Mapped[datetime | None]
    # Bumped each time they move between cohorts (with the cohort's revision, their calendar's SEQUENCE).
    calendar_revision: Mapped[int] = mapped_column(default=0, server_default="0")

    owner = relationship("User", foreign_keys=[owner_id])
    risk_tier_override_by = relationship("User", foreign_keys=[risk_tier_override_by_id])
    current_stage = relationship("Stage")
    cohort = relationship("Cohort")
    store = relationship("Store")
    left_reason = relationship("Reason")
    # flag.candidate_id has no foreign key (see models.flags): deleting a candidate through the ORM
    # deletes its flags here.
    # The tier derived from open flags at a time the query chooses: models.flags.with_derived_tier(now).
    risk_tier: Mapped[str | None] = query_expression()
    flags = relationship(
        "Flag",
        primaryjoin="Flag.candidate_id == Candidate.id",
        foreign_keys="Flag.candidate_id",
        back_populates="candidate",
        cascade="all, delete-orphan",
    )

    @property
    def tier(self) -> str | None:
        """The tier HR act on: their override when set, else the one derived from open flags (models.flags).

        None when the query did not ask for the derived tier (models.flags.with_derived_tier).
        """
        return self.risk_tier_override or self.risk_tier


# The list's default sort, never-visited last: NULLS FIRST matters on PostgreSQL only (migration 0010).
sa.Index("ix_candidate_last_seen", Candidate.last_seen_at.nulls_first(), Candidate.id)


class PortalLink(Base):
    """One delivered link. Only the SHA-256 of its token is stored."""

    __tablename__ = "portal_link"
    __table_args__ = (sa.Index("ix_portal_link_candidate_id", "candidate_id"), one_of("channel", Channel))

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(10))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    first_opened_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]

    issued_by = relationship("User")

    @classmethod
    def works_at(cls, now: Any) -> sa.ColumnElement[bool]:
        """The one rule for a link that still opens the page at ``now`` (a time or a bind parameter)."""
        return sa.and_(cls.revoked_at.is_(None), cls.expires_at > now)


class StageEvent(Base):
    __tablename__ = "stage_event"
    __table_args__ = (sa.Index("ix_stage_event_candidate_reached", "candidate_id", "reached_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(sa.ForeignKey("stage.id"))
    reached_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(sa.Text, default="")

    stage = relationship("Stage")
    actor = relationship("User")


class CandidateNote(Base):
    """An internal note HR keep about a candidate; the candidate never sees it."""

    __tablename__ = "candidate_note"
    __table_args__ = (sa.Index("ix_candidate_note_candidate_written", "candidate_id", "written_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    written_at: Mapped[datetime]
    body: Mapped[str] = mapped_column(sa.Text)

    author = relationship("User")
