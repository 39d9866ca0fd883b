"""Training cohorts and who is in them (the cohort screens of issue 15 will grow here)."""

from datetime import datetime

from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.i18n import localized
from portal.models import Candidate, Cohort, Stage, User
from portal.models.candidates import Status
from portal.services.audit import record_on_candidate
from portal.services.automations import cohort_moved
from portal.services.scan import rescan_candidate


class CohortError(ValueError):
    """The candidate cannot join (or leave) the cohort; the message says why, and nothing changed."""


def assign_cohort(candidate: Candidate, cohort_id: int | None, *, actor: User, now: datetime) -> bool:
    """HR put a candidate in a training cohort (None: in none); False when they were in it already.

    Refused with a CohortError, nothing changed: a candidate who started or left, a cohort that does not
    exist, and taking the cohort away from someone whose stage needs one. The change is in the audit trail,
    and the candidate's flags are evaluated again at once (the training-notice rule reads the cohort's start).
    """
    if cohort_id == candidate.cohort_id:
        return False
    if candidate.status != Status.ACTIVE:
        raise CohortError(_l("This candidate has started or left: re-activate them first."))
    if cohort_id is not None and db.session.get(Cohort, cohort_id) is None:
        raise CohortError(_l("That training cohort does not exist."))
    stage = db.session.get(Stage, candidate.current_stage_id) if candidate.current_stage_id else None
    if cohort_id is None and stage is not None and stage.needs_cohort:
        raise CohortError(_l("%(stage)s needs a training cohort: choose one.", stage=localized(stage, "label")))
    old_cohort_id, candidate.cohort_id = candidate.cohort_id, cohort_id
    db.session.flush()
    db.session.expire(candidate, ["cohort"])  # the relationship follows the new id when next read
    detail = f"cohort {cohort_id}" if cohort_id is not None else "cohort cleared"
    record_on_candidate("cohort.assign", candidate.id, actor_user_id=actor.id, detail=detail)
    rescan_candidate(candidate.id, now)
    cohort_moved(candidate, old_cohort_id, now=now)
    return True
