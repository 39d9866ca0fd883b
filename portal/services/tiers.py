"""HR's override of a candidate's risk tier; the derived tier itself is read from open flags (models.flags)."""

from datetime import datetime

from portal.extensions import db
from portal.models import Candidate, User
from portal.models.candidates import Tier
from portal.services.audit import record_on_candidate


def override_tier(target: Candidate, tier: str | None, user: User, *, now: datetime) -> None:
    """HR's own judgement beside the derived tier; None clears it."""
    if tier is not None and tier not in set(Tier):
        raise ValueError(tier)
    target.risk_tier_override = tier
    target.risk_tier_override_by_id = user.id if tier else None
    target.risk_tier_override_at = now if tier else None
    record_on_candidate("tier.override", target.id, actor_user_id=user.id, detail=f"override {tier or 'cleared'}")
    db.session.flush()
