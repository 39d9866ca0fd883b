"""The one place that moves a candidate to a stage."""

from datetime import datetime

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Candidate, Stage, StageEvent


def stage_by_key(key: str) -> Stage:
    """Look a stage up by its stable key."""
    return db.session.scalars(sa.select(Stage).filter_by(key=key)).one()


def advance_stage(candidate: Candidate, stage: Stage, *, now: datetime, actor_id: int | None = None,
                  note: str = "") -> StageEvent:
    """Record that the candidate reached ``stage`` at ``now``."""
    event = StageEvent(candidate_id=candidate.id, stage_id=stage.id, reached_at=now,
                       actor_id=actor_id, note=note)
    db.session.add(event)
    candidate.current_stage_id = stage.id
    candidate.stage_reached_at = now
    db.session.flush()
    return event
