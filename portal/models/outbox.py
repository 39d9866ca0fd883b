"""The outbox: every message Keepwarm sends is first a row here, written in the transaction of its cause.

A row holds everything needed to send it later, with a placeholder where the portal link goes (the link
itself is issued at send time and never stored). Delays, attempts and the next attempt's time live here,
not in Redis, which only wakes the sender.
"""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, one_of, partial_index

LINK_PLACEHOLDER = "{portal_link}"  # where a message's body gets its own link, at send time


class MessageStatus(StrEnum):
    QUEUED = "queued"  # waiting for its due time (a send window, a retry)
    SENDING = "sending"  # claimed by a sender until lease_until; an expired lease is claimed again
    SENT = "sent"
    FAILED = "failed"  # permanently (a 5xx, a bad address) or out of attempts; ``reason`` says why
    DROPPED = "dropped"  # no longer applies at send time (the candidate left, no address); ``reason`` says why


class MessageKind(StrEnum):
    LINK = "link"  # the portal link, sent by hand
    NOTE = "note"  # a message HR wrote
    AUTOMATED = "automated"  # an automation's (models.automations), not essential
    # Essential (services.outbox.ESSENTIAL_KINDS): they go any day, never at night, and before the rest.
    LINK_ASKED = "link_asked"  # a link the candidate asked for
    TRAINING_CHANGE = "training_change"  # a changed training date or place
    OFFER_DECISION = "offer_decision"
    HR_REPLY = "hr_reply"  # HR answered the candidate's question


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        one_of("status", MessageStatus),
        one_of("kind", MessageKind),
        # The sender's claim: due rows, most pressing first. Essential and hand-sent rows have priority 0,
        # so a batch of 10,000 automated ones never holds them back.
        sa.Index("ix_outbox_status_priority_due", "status", "priority", "due_at"),
        sa.Index("ix_outbox_candidate_created", "candidate_id", "created_at"),
        sa.Index("ix_outbox_automation_status", "automation_id", "status"),
        # "Sent this story already?" for the Friday story, one probe per candidate whatever the statistics say.
        partial_index("ix_outbox_candidate_story", "candidate_id", "story_id", where="story_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The same cause never makes two messages: "link:{candidate}:{request}" and the like.
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(20))
    essential: Mapped[bool] = mapped_column(default=False)
    urgent: Mapped[bool] = mapped_column(default=False)  # HR asked: any day, never at night (kept for a retry)
    priority: Mapped[int] = mapped_column(default=1)
    channels: Mapped[str] = mapped_column(sa.String(40), default="email")  # in order; the next only as a fallback
    locale: Mapped[str] = mapped_column(sa.String(10))
    subject: Mapped[str] = mapped_column(sa.String(200), default="")
    body: Mapped[str] = mapped_column(sa.Text)  # with LINK_PLACEHOLDER where the link goes; never a token
    # A text message is a provider's pre-approved template and its named parameters (the link's placeholder
    # in one of them), never free text; "" when the message has no SMS form.
    sms_template: Mapped[str] = mapped_column(sa.String(60), default="")
    sms_params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(10), default=MessageStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime | None]
    channel: Mapped[str | None] = mapped_column(sa.String(10))  # the one it went by
    link_id: Mapped[int | None] = mapped_column(sa.ForeignKey("portal_link.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(sa.Text, default="")  # the last failure's, or why it was dropped
    # An automation's message is written (subject, body, text parameters) when it is sent, from the
    # automation's templates; a message about a cohort (its dates, its checklist) names it, so that a move
    # to another cohort drops it; a Friday story names the story.
    automation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("automation.id", ondelete="SET NULL"))
    cohort_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cohort.id", ondelete="SET NULL"))
    story_id: Mapped[int | None] = mapped_column(sa.ForeignKey("story.id", ondelete="SET NULL"))

    link = relationship("PortalLink")
    candidate = relationship("Candidate")
    created_by = relationship("User")
    automation = relationship("Automation")
