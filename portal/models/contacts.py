"""Contacts HR make outside Keepwarm: a call, a WeChat message, a text, a meeting."""

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, one_of
from portal.models.candidates import Tier


class ContactChannel(StrEnum):
    PHONE = "phone"
    WECHAT = "wechat"
    SMS = "sms"
    IN_PERSON = "in_person"


class ContactOutcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    ANOTHER_DATE = "another_date"  # reached; they want another date
    DECLINING = "declining"  # reached; they are about to decline

    @property
    def reached(self) -> bool:
        """HR spoke with the candidate: it counts as contact for the quiet rule."""
        return self != ContactOutcome.NO_ANSWER


class Contact(Base):
    __tablename__ = "contact"
    __table_args__ = (
        sa.Index("ix_contact_candidate_contacted", "candidate_id", "contacted_at"),
        one_of("channel", ContactChannel),
        one_of("outcome", ContactOutcome),
        one_of("tier", Tier),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(12))
    outcome: Mapped[str] = mapped_column(sa.String(12))
    contacted_at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    # The tier when the contact was logged: it sets the cadence of the next one.
    tier: Mapped[str] = mapped_column(sa.String(1))
    next_due_on: Mapped[date]
    note: Mapped[str] = mapped_column(sa.Text, default="")

    actor = relationship("User")
