"""The one place that moves a candidate to a stage."""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Candidate, Stage, StageEvent, User
from portal.services.audit import record_on_candidate


class StageError(ValueError):
    """The stage cannot change; the message says why, and nothing changed."""


def advance_stage(
    candidate: Candidate, stage: Stage, *, now: datetime, actor_id: int | None = None, note: str = ""
) -> StageEvent:
    """Record that the candidate reached ``stage`` at ``now``."""
    event = StageEvent(candidate_id=candidate.id, stage_id=stage.id, reached_at=now, actor_id=actor_id, note=note)
    db.session.add(event)
    candidate.current_stage_id = stage.id
    candidate.stage_reached_at = now
    db.session.flush()
    return event


def advance_to_next_stage(candidate: Candidate, user: User, *, seen_stage_id: int | None, now: datetime) -> Stage:
    """Move the candidate one stage on, only from the stage the person was shown (a second tab changes nothing)."""
    if seen_stage_id != candidate.current_stage_id:
        raise StageError(_l("The stage has changed since this page was shown. Nothing was changed."))
    current = db.session.get(Stage, candidate.current_stage_id) if candidate.current_stage_id else None
    query = sa.select(Stage).order_by(Stage.position)
    if current is not None:
        query = query.where(Stage.position > current.position)
    following = db.session.scalars(query.limit(1)).first()
    if following is None:
        raise StageError(_l("The candidate is already at the last stage."))
    advance_stage(candidate, following, now=now, actor_id=user.id)
    record_on_candidate("stage.advance", candidate.id, actor_user_id=user.id, detail=f"to {following.key}")
    return following
