"""A candidate's thread with HR: their questions and requests (another date, a nearer store) and HR's answers."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, one_of, partial_index


class Topic(StrEnum):
    QUESTION = "question"  # the candidate asks HR something
    ANOTHER_DATE = "another_date"  # the candidate asks to train in another cohort
    STORE_TOO_FAR = "store_too_far"  # the candidate says the store they were given is too far
    REPLY = "reply"  # HR answer, accept or decline one of the above


# What the candidate asks for: each waits as a task in HR's queue until HR answer it.
REQUESTS = (Topic.ANOTHER_DATE, Topic.STORE_TOO_FAR)


class AskState(StrEnum):
    WAITING = "waiting"  # HR have not answered yet: a task in their queue
    ANSWERED = "answered"  # a question HR answered
    ACCEPTED = "accepted"  # a request HR granted: the candidate was moved
    DECLINED = "declined"  # a request HR turned down, with their reply
    WITHDRAWN = "withdrawn"  # nobody needs to answer any more: the candidate started or left


class ThreadMessage(Base):
    __tablename__ = "thread_message"
    __table_args__ = (
        one_of("topic", Topic),
        one_of("state", AskState),
        # The thread, newest first, and "how many did they send this hour" (the rate limit).
        sa.Index("ix_thread_message_candidate_written", "candidate_id", "written_at"),
        # What waits for HR: the scan's task rules read these few rows, never the whole thread.
        partial_index("ix_thread_message_waiting", "topic", "candidate_id", "written_at", where="state = 'waiting'"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(sa.String(20))
    # As the candidate or HR typed it (shown escaped); may be empty on a request that only gives its reason.
    body: Mapped[str] = mapped_column(sa.Text, default="")
    written_at: Mapped[datetime]
    # HR's reply: who wrote it and what it answers. The candidate's own messages have no author.
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    answers_id: Mapped[int | None] = mapped_column(sa.ForeignKey("thread_message.id", ondelete="CASCADE"))
    # A question or request: where it stands, and when that changed.
    state: Mapped[str | None] = mapped_column(sa.String(10))
    settled_at: Mapped[datetime | None]
    # Another date: why (the shared reason list) and the later cohort they would like, if any.
    reason_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reason.id", ondelete="RESTRICT"))
    preferred_cohort_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cohort.id", ondelete="SET NULL"))
    # A store too far: the district they would rather work in; and the cohort or store HR granted.
    district: Mapped[str] = mapped_column(sa.String(60), default="")
    granted_cohort_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cohort.id", ondelete="SET NULL"))
    granted_store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id", ondelete="SET NULL"))

    author = relationship("User", foreign_keys=[author_id])
    reason = relationship("Reason")
    preferred_cohort = relationship("Cohort", foreign_keys=[preferred_cohort_id])
    granted_cohort = relationship("Cohort", foreign_keys=[granted_cohort_id])
    granted_store = relationship("Store", foreign_keys=[granted_store_id])

    @property
    def from_candidate(self) -> bool:
        return self.topic != Topic.REPLY

    @property
    def waiting(self) -> bool:
        return self.state == AskState.WAITING
