"""A cohort's curriculum (sessions by day) and cohorts planned as a monthly series; both raise the cohort's
revision, so that subscribed calendars follow (portal.candidate.calendar)."""

from datetime import UTC, date, datetime, time

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Cohort, CohortSession
from portal.services.audit import record_audit
from portal.services.cohort_series import (
    PlannedCohort,
    SeriesError,
    SeriesRule,
    days_of,
    plan_series,
    shift_curriculum,
)
from portal.services.cohorts import CohortError, save_cohort
from portal.services.worktime import WorkCalendar, organisation_zone

SESSION_LENGTHS = {"title_zh": 200, "title_en": 200, "trainer": 120, "room": 120, "detail_zh": 2000, "detail_en": 2000}
MAX_SESSIONS = 200  # a cohort's; far more than a month of half-days


def live_sessions(cohort_id: int) -> sa.Select:
    return (
        sa.select(CohortSession)
        .where(CohortSession.cohort_id == cohort_id, CohortSession.removed_at.is_(None))
        .order_by(CohortSession.starts_at, CohortSession.id)
    )


def save_session(
    cohort: Cohort, session: CohortSession | None, values: dict, *, actor_id: int, now: datetime
) -> CohortSession:
    """Add a session (None) or change one: ``day`` within the cohort's dates, ``start`` before ``end`` (clock
    times where the organisation is), a title; CohortError naming the field otherwise, nothing changed."""
    if cohort.cancelled:
        raise CohortError(_l("A cancelled cohort cannot be changed."))
    if session is not None:
        _check_belongs(cohort, session)
    values = {key: value.strip() if isinstance(value, str) else value for key, value in values.items()}
    day, start, end = values.get("day"), values.get("start"), values.get("end")
    if not isinstance(day, date) or not cohort.starts_on <= day <= cohort.ends_on:
        raise CohortError(
            _l("Choose a day from %(first)s to %(last)s.", first=cohort.starts_on, last=cohort.ends_on), "day"
        )
    if not isinstance(start, time):
        raise CohortError(_l("Give the time it starts."), "start")
    if not isinstance(end, time) or end <= start:
        raise CohortError(_l("It must end after it starts."), "end")
    if not values.get("title_zh"):
        raise CohortError(_l("Give the session a title."), "title_zh")
    for field, most in SESSION_LENGTHS.items():
        if len(values.get(field) or "") > most:
            raise CohortError(_l("At most %(count)d characters.", count=most), field)
    if session is None:
        count = db.session.scalar(sa.select(sa.func.count()).select_from(live_sessions(cohort.id).subquery()))
        if (count or 0) >= MAX_SESSIONS:
            raise CohortError(_l("A cohort holds at most %(count)d sessions.", count=MAX_SESSIONS))
        session = CohortSession(cohort_id=cohort.id)
        db.session.add(session)
    zone = organisation_zone()
    session.starts_at = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
    session.ends_at = datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
    for field in SESSION_LENGTHS:
        setattr(session, field, values.get(field) or "")
    cohort.revision += 1
    db.session.flush()
    record_audit(
        "cohort.session",
        actor_user_id=actor_id,
        object_type="cohort",
        object_id=cohort.id,
        detail=f"session {session.id}",
    )
    return session


def remove_session(cohort: Cohort, session: CohortSession, *, actor_id: int, now: datetime) -> None:
    """Off the curriculum; kept, so that subscribed calendars are told it is cancelled. A cancelled cohort's
    curriculum stays as it was (CohortError)."""
    _check_belongs(cohort, session)
    if cohort.cancelled:
        raise CohortError(_l("A cancelled cohort cannot be changed."))
    if session.removed_at is not None:
        return
    session.removed_at = now
    cohort.revision += 1
    db.session.flush()
    record_audit(
        "cohort.session_removed",
        actor_user_id=actor_id,
        object_type="cohort",
        object_id=cohort.id,
        detail=f"session {session.id}",
    )


def _check_belongs(cohort: Cohort, session: CohortSession) -> None:
    """A session is changed through its own cohort only (the revision raised is the one its calendars read)."""
    if session.cohort_id != cohort.id:
        raise ValueError(f"session {session.id} is not one of cohort {cohort.id}'s")


def cohort_days(cohort: Cohort, calendar: WorkCalendar) -> list[date]:
    return days_of(calendar, cohort.starts_on, cohort.ends_on)


def copy_curriculum(source: Cohort, target: Cohort, *, actor_id: int, now: datetime) -> tuple[int, int]:
    """``source``'s sessions into ``target`` (which has none yet), each on the same working day of the cohort
    (its third working day on the third) at the same clock times; (copied, left out: beyond its last day)."""
    if target.cancelled:
        raise CohortError(_l("A cancelled cohort cannot be changed."))
    if source.id == target.id:
        raise CohortError(_l("Choose another cohort to copy from."), "source")
    if db.session.scalars(live_sessions(target.id).limit(1)).first() is not None:
        raise CohortError(
            _l("This cohort has sessions already: remove them first, or add to them one by one."), "source"
        )
    calendar = WorkCalendar(now)
    sessions = db.session.scalars(live_sessions(source.id)).all()
    shifted, left_out = shift_curriculum(
        sessions, cohort_days(source, calendar), cohort_days(target, calendar), organisation_zone()
    )
    for moved in shifted:
        original = moved.session
        db.session.add(
            CohortSession(
                cohort_id=target.id,
                starts_at=moved.starts_at,
                ends_at=moved.ends_at,
                **{field: getattr(original, field) for field in SESSION_LENGTHS},
            )
        )
    target.revision += 1
    db.session.flush()
    record_audit(
        "cohort.curriculum_copied",
        actor_user_id=actor_id,
        object_type="cohort",
        object_id=target.id,
        detail=f"from cohort {source.id}: {len(shifted)} copied, {left_out} left out",
    )
    return len(shifted), left_out


def series_name(base: str, planned: PlannedCohort) -> str:
    """ "2027-03 门店新人培训": the month first, so that a series sorts and reads at a glance."""
    return f"{planned.starts_on:%Y-%m} {base}".strip()[:120]


def create_series(
    rule: SeriesRule, template: dict, *, copy_from: Cohort | None, actor_id: int, now: datetime
) -> list[Cohort]:
    """The planned cohorts (plan_series) saved, each with ``template``'s name, place and places, and
    ``copy_from``'s curriculum shifted to its days. All or nothing: a CohortError (or a SeriesError: a rule out of
    bounds, or no month with a day to start on) leaves nothing saved, once the caller rolls back."""
    planned, _problems = plan_series(rule, WorkCalendar(now))
    if not planned:
        raise SeriesError(_l("No month of this series has a day to start on: nothing to create."))
    made = []
    for plan in planned:
        values = {
            **template,
            "name": series_name(template.get("name") or "", plan),
            "starts_on": plan.starts_on,
            "ends_on": plan.ends_on,
        }
        cohort = save_cohort(None, values, actor_id=actor_id, now=now)  # checked, created and on the audit trail
        if copy_from is not None:
            copy_curriculum(copy_from, cohort, actor_id=actor_id, now=now)
        made.append(cohort)
    record_audit("cohort.series", actor_user_id=actor_id, object_type="cohort", detail=f"{len(made)} cohorts")
    return made
