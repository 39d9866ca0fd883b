"""The HR follow-up queue: one open flag per candidate and rule."""

from datetime import datetime, timedelta

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
        # Rule first: the scan also reads "the open flags of one rule" from it.
        sa.Index(
            "uq_flag_open_candidate_rule",
            "rule",
            "candidate_id",
            unique=True,
            sqlite_where=sa.text("resolved_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL"),
        ),
        sa.Index("ix_flag_open_severity_raised", "resolved_at", "severity", "raised_at"),
        # The scan asks "did HR already resolve this rule for this candidate, and when?"
        sa.Index("ix_flag_candidate_rule_resolved", "candidate_id", "rule", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Deliberately no foreign key. Only the scan inserts flags, from candidate rows it reads in the same
    # transaction; and on PostgreSQL a key check locks the candidate row, so that after a checkpoint
    # each flag raised wrote a whole candidate page to the WAL: 100,000 flags took 5.5-6.5 s instead
    # of 2.9-3.3 s (bench/scan.py). Whoever deletes a candidate deletes its flags (Candidate.flags).
    candidate_id: Mapped[int] = mapped_column()
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

    candidate = relationship("Candidate", primaryjoin="Flag.candidate_id == Candidate.id",
                             foreign_keys=[candidate_id], back_populates="flags")
    claimed_by = relationship("User", foreign_keys=[claimed_by_id])

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


# Rules of later issues that are HR tasks rather than risk signals (a question, a date-change
# request): they sit in the queue but do not lower the tier.
TASK_RULES: tuple[str, ...] = ()
URGENT_DAYS_FOR_D = 7


def derived_tier_of(candidate_id):
    """A candidate's risk tier, derived from its open risk flags when the statement runs.

    A on track (none), B watch (warnings only), C at risk (an urgent flag, or two warnings), D likely
    lost (urgent for 7 days or more). Read, never stored: the scan writes flags only, so a tier is
    never stale and a page reads it for its own rows (a few index lookups each).
    """
    open_risk = [Flag.candidate_id == candidate_id, Flag.resolved_at.is_(None)]
    if TASK_RULES:
        open_risk.append(Flag.rule.not_in(TASK_RULES))
    urgent = Flag.severity == "urgent"
    d_before = sa.bindparam("tier_d_before", type_=Flag.urgent_since.type,
                            callable_=lambda: utcnow() - timedelta(days=URGENT_DAYS_FOR_D))
    any_of = lambda condition: sa.func.max(sa.case((condition, 1), else_=0)) == 1  # noqa: E731
    warnings = sa.func.sum(sa.case((Flag.severity == "warning", 1), else_=0))
    return (
        sa.select(sa.case(
            (any_of(sa.and_(urgent, Flag.urgent_since <= d_before)), "D"),
            (any_of(urgent), "C"),
            (warnings >= 2, "C"),
            (warnings >= 1, "B"),
            else_="A",
        ))
        .where(*open_risk)
        .correlate_except(Flag)
        .scalar_subquery()
    )
