"""The HR follow-up queue: one open flag per candidate and rule."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow

SEVERITIES = ("warning", "urgent")
# What HR record when they close a flag.
OUTCOMES = ("reached_by_phone", "reassured", "rescheduled", "withdrew", "no_answer")
CLEARED = "cleared"  # outcome of a flag the scan closed because its condition no longer holds


class Flag(Base):
    __tablename__ = "flag"
    __table_args__ = (
        # At most one open flag per candidate and rule, however often or concurrently the scan runs.
        sa.Index(
            "uq_flag_open_candidate_rule",
            "candidate_id",
            "rule",
            unique=True,
            sqlite_where=sa.text("resolved_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL"),
        ),
        sa.Index("ix_flag_open_severity_raised", "resolved_at", "severity", "raised_at"),
        # The scan asks "did HR already resolve this rule for this candidate, and when?"
        sa.Index("ix_flag_candidate_rule_resolved", "candidate_id", "rule", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(sa.String(40))
    severity: Mapped[str] = mapped_column(sa.String(10))
    # An English one-line summary (exports, logs); pages render the reason from rule and evidence.
    reason: Mapped[str] = mapped_column(sa.String(300))
    # The time the reason is about: last visit, link issued, stage reached.
    evidence_at: Mapped[datetime | None]
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the flag was raised as, or escalated to, urgent: "urgent for 7 days" makes tier D.
    urgent_since: Mapped[datetime | None]
    claimed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(sa.String(30))
    note: Mapped[str] = mapped_column(sa.Text, default="")

    candidate = relationship("Candidate")
    claimed_by = relationship("User", foreign_keys=[claimed_by_id])

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
