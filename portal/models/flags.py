"""The HR follow-up queue: one open flag per candidate and rule."""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, with_expression

from portal.models.base import Base, one_of, partial_index, utcnow
from portal.models.candidates import Candidate, Tier


class Severity(StrEnum):
    WARNING = "warning"
    URGENT = "urgent"


class Outcome(StrEnum):
    """How a flag was closed: what HR did, or that the scan found its cause gone."""

    REACHED_BY_PHONE = "reached_by_phone"
    REASSURED = "reassured"
    RESCHEDULED = "rescheduled"
    WITHDREW = "withdrew"
    NO_ANSWER = "no_answer"  # not a closing: the flag stays open and comes back the next working morning
    CLEARED = "cleared"  # the scan closed it because its condition no longer holds


class TaskRule(StrEnum):
    """Flags that are work for HR rather than a risk: the candidate waits for an answer (services.threads).
    They never move the risk tier; they are closed by answering, not resolved from the queue."""

    QUESTION = "question_waiting"
    REQUEST = "request_waiting"


TASK_RULES = tuple(rule.value for rule in TaskRule)


# What HR may choose when they act on a flag.
HR_OUTCOMES = tuple(outcome for outcome in Outcome if outcome != Outcome.CLEARED)


class Flag(Base):
    __tablename__ = "flag"
    __table_args__ = (
        # At most one open flag per candidate and rule, however often or concurrently the scan runs.
        # Rule first: the scan also reads "the open flags of one rule" from it.
        partial_index("uq_flag_open_candidate_rule", "rule", "candidate_id", where="resolved_at IS NULL", unique=True),
        # The open flags, urgent and oldest first (the queue's order); with the snooze and the candidate, a count
        # of who waits (the navigation badge) reads this index alone.
        sa.Index("ix_flag_open", "resolved_at", "severity", "raised_at", "snoozed_until", "candidate_id"),
        # The scan asks "did HR already resolve this rule for this candidate, and when?"
        sa.Index("ix_flag_candidate_rule_resolved", "candidate_id", "rule", "resolved_at"),
        one_of("severity", Severity),
        one_of("outcome", Outcome),
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
    # A task's second escalation: still unanswered TASK_OVERDUE_HOURS after it was asked (first in the queue).
    overdue_since: Mapped[datetime | None]
    claimed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(sa.String(30))
    note: Mapped[str] = mapped_column(sa.Text, default="")

    candidate = relationship(
        "Candidate",
        primaryjoin="Flag.candidate_id == Candidate.id",
        foreign_keys=[candidate_id],
        back_populates="flags",
    )
    claimed_by = relationship("User", foreign_keys=[claimed_by_id])
    resolved_by = relationship("User", foreign_keys=[resolved_by_id])

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def is_task(self) -> bool:
        return self.rule in TASK_RULES


URGENT_DAYS_FOR_D = 7


def derived_tier(candidate_id, now: datetime) -> sa.ScalarSelect:
    """A candidate's risk tier at ``now``, derived from its open risk flags.

    A on track (none), B watch (warnings only), C at risk (an urgent flag, or two warnings), D likely
    lost (urgent for 7 days or more). A task for HR (a question, a request: TASK_RULES) is no risk
    signal and never counts. Read, never stored: the scan writes flags only, so a tier is
    never stale and a page reads it for its own rows (a few index lookups each).
    """
    open_flags = [Flag.candidate_id == candidate_id, Flag.resolved_at.is_(None), Flag.rule.not_in(TASK_RULES)]
    urgent = Flag.severity == Severity.URGENT
    d_before = sa.literal(now - timedelta(days=URGENT_DAYS_FOR_D), type_=Flag.urgent_since.type)

    def any_of(condition):
        return sa.func.max(sa.case((condition, 1), else_=0)) == 1

    warnings = sa.func.sum(sa.case((Flag.severity == Severity.WARNING, 1), else_=0))
    return (
        sa.select(
            sa.case(
                (any_of(sa.and_(urgent, Flag.urgent_since <= d_before)), Tier.D.value),
                (any_of(urgent), Tier.C.value),
                (warnings >= 2, Tier.C.value),
                (warnings >= 1, Tier.B.value),
                else_=Tier.A.value,
            )
        )
        .where(*open_flags)
        .correlate_except(Flag)
        .scalar_subquery()
    )


def with_derived_tier(now: datetime, path=None):
    """The loader option that fills ``Candidate.risk_tier`` at ``now`` (``path``: e.g. a contains_eager)."""
    return (path.with_expression if path is not None else with_expression)(
        Candidate.risk_tier, derived_tier(Candidate.id, now)
    )


def _flagged_tiers(now: datetime):
    """(candidate_id, tier) of every candidate with an open flag, in one pass over the open flags.

    The tier is derived_tier's own expression (the one place that decides it), grouped by
    candidate here instead of correlated per candidate: a filter by tier then costs one read of the open
    flags, not a subquery for each of 100,000 candidates.
    """
    rule = cast(sa.Select, derived_tier(Flag.candidate_id, now).element)
    tier = rule.selected_columns[0].label("tier")
    return rule.with_only_columns(Flag.candidate_id, tier).group_by(Flag.candidate_id).subquery("flagged_tier")


def tier_is(tier: str, now: datetime):
    """HR's override when set, else the tier derived from open flags (A: none that makes it B, C or D).

    B, C and D are a small set of ids (overridden to it, or derived as it and not overridden): the database
    reads those candidates by id instead of testing every candidate against an OR.
    """
    flagged = _flagged_tiers(now)
    override = Candidate.risk_tier_override
    if tier == Tier.A:
        derived = Candidate.id.not_in(sa.select(flagged.c.candidate_id).where(flagged.c.tier != Tier.A.value))
        return sa.or_(override == tier, sa.and_(override.is_(None), derived))
    ids = sa.union(
        sa.select(Candidate.id).where(override == tier),
        sa.select(flagged.c.candidate_id).where(flagged.c.tier == tier),
    )
    return sa.and_(Candidate.id.in_(ids), sa.or_(override.is_(None), override == tier))
