"""Risk tiers A–D, derived from open risk flags, recomputed only for the candidates given."""

from datetime import datetime, timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Candidate, Flag, User
from portal.models.candidates import TIERS
from portal.services.audit import record_audit

candidate, flag = Candidate.__table__, Flag.__table__

URGENT_DAYS_FOR_D = 7


def risk_rules() -> list[str]:
    """Every scan rule is a risk signal; task flags of later issues (a question, a date change) are not."""
    from portal.services.scan import RULES  # the scan imports this module

    return [rule.name for rule in RULES]


def derived_tier(now: datetime):
    """SQL for a candidate's tier: A on track, B warnings only, C urgent or two warnings, D urgent 7+ days."""
    open_risk = sa.and_(flag.c.candidate_id == candidate.c.id, flag.c.resolved_at.is_(None),
                        flag.c.rule.in_(risk_rules()))
    urgent = sa.and_(open_risk, flag.c.severity == "urgent")
    warnings = sa.select(sa.func.count()).where(open_risk, flag.c.severity == "warning").scalar_subquery()
    return sa.case(
        (sa.exists().where(urgent, flag.c.urgent_since <= now - timedelta(days=URGENT_DAYS_FOR_D)), "D"),
        (sa.exists().where(urgent), "C"),
        (warnings >= 2, "C"),
        (warnings >= 1, "B"),
        else_="A",
    )


def refresh_tiers(candidate_ids, now: datetime) -> int:
    """Recompute the derived tier of the given candidates (ids or a SELECT of ids); returns how many changed."""
    tier = derived_tier(now)
    return db.session.execute(
        sa.update(candidate).where(candidate.c.id.in_(candidate_ids), candidate.c.risk_tier != tier)
        .values(risk_tier=tier).execution_options(preserve_rowcount=True)
    ).rowcount


def candidates_touched_by_scan(now: datetime) -> sa.Select:
    """Candidates whose flags this scan changed, or whose urgent flag just turned 7 days old."""
    return sa.select(flag.c.candidate_id).where(sa.or_(
        flag.c.raised_at == now, flag.c.resolved_at == now, flag.c.urgent_since == now,
        sa.and_(flag.c.resolved_at.is_(None), flag.c.severity == "urgent",
                flag.c.urgent_since <= now - timedelta(days=URGENT_DAYS_FOR_D)),
    ))


def override_tier(target: Candidate, tier: str | None, user: User, *, now: datetime) -> None:
    """HR's own judgement beside the derived tier; None clears it."""
    if tier is not None and tier not in TIERS:
        raise ValueError(tier)
    target.risk_tier_override = tier
    target.risk_tier_override_by_id = user.id if tier else None
    target.risk_tier_override_at = now if tier else None
    record_audit("tier.override", actor_user_id=user.id, object_type="candidate", object_id=target.id,
                 detail=f"override {tier or 'cleared'}")
    db.session.flush()
