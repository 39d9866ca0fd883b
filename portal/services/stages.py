"""The one place that moves a candidate to a stage."""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.i18n import localized
from portal.models import Candidate, Stage, StageEvent, User
from portal.models.candidates import Status
from portal.services.audit import record_on_candidate
from portal.services.automations import queue_stage_entered
from portal.services.cohorts import CohortError, place_in_cohort
from portal.services.scan import rescan_candidate


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


def move_to_stage(
    candidate: Candidate,
    stage: Stage,
    *,
    actor: User,
    now: datetime,
    reached_at: datetime | None = None,
    note: str = "",
    cohort_id: int | None = None,
) -> StageEvent:
    """HR move a candidate to ``stage``, reached at ``reached_at`` (now unless back-dated), checked
    against the pipeline. The queue, the candidate page and the import all move people through here.

    Refused with a StageError, and nothing changed: a time in the future; a required stage before
    ``stage`` the candidate never reached; a stage that needs a cohort when the candidate has none
    and ``cohort_id`` names none. The move is on the timeline with who made it and their note, in the
    audit trail, and the candidate's flags are evaluated again at once.
    """
    reached_at = reached_at or now
    if candidate.status != Status.ACTIVE:
        raise StageError(_l("This candidate has started or left: re-activate them first."))
    skipped = _skipped_required_stage(candidate, stage)
    if skipped is not None:
        raise StageError(
            _l("%(stage)s comes first: it is a required step.", stage=localized(skipped, "label")),
        )
    check_reachable(stage, reached_at=reached_at, now=now, cohort_id=cohort_id or candidate.cohort_id)
    if cohort_id is not None:
        try:  # a full cohort is refused here: the stage needs a place, not a waitlist
            place_in_cohort(candidate, cohort_id, actor_id=actor.id, now=now, waitlist=False)
        except CohortError as refusal:
            raise StageError(str(refusal)) from refusal
    event = advance_stage(candidate, stage, now=reached_at, actor_id=actor.id, note=note)
    record_on_candidate("stage.move", candidate.id, actor_user_id=actor.id, detail=f"to {stage.key}")
    rescan_candidate(candidate.id, now)
    queue_stage_entered([candidate.id], now=now)
    return event


def check_reachable(stage: Stage, *, reached_at: datetime, now: datetime, cohort_id: int | None) -> None:
    """What every way into a stage checks (a move, a new candidate): never in the future, never
    without the cohort the stage needs. Raises StageError."""
    if reached_at > now:
        raise StageError(_l("A stage cannot be reached in the future."))
    if stage.needs_cohort and cohort_id is None:
        raise StageError(_l("%(stage)s needs a training cohort: choose one.", stage=localized(stage, "label")))


def _skipped_required_stage(candidate: Candidate, stage: Stage) -> Stage | None:
    """The first required stage before ``stage`` that the candidate has never reached, if any."""
    reached = sa.select(StageEvent.stage_id).where(StageEvent.candidate_id == candidate.id)
    return db.session.scalars(
        sa.select(Stage)
        .where(Stage.position < stage.position, Stage.required, Stage.id.not_in(reached))
        .order_by(Stage.position)
        .limit(1)
    ).first()


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
    move_to_stage(candidate, following, actor=user, now=now)
    return following
