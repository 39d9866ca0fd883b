"""Reads for the candidate page. This is the hot path: SQLAlchemy Core, a fixed number of statements."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    Candidate, ChecklistCompletion, ChecklistItem, Cohort, CohortSession, PortalLink, Stage,
    StageEvent, Story, User,
)

HOME_STORY_COUNT = 3

_owner = sa.orm.aliased(User, name="owner")

_session_query = (
    sa.select(
        PortalLink.id.label("link_id"),
        PortalLink.first_opened_at,
        PortalLink.expires_at,
        Candidate.id.label("candidate_id"),
        Candidate.name,
        Candidate.locale,
        Candidate.status,
        Candidate.cohort_id,
        Candidate.current_stage_id,
        _owner.name.label("hr_name"),
        _owner.phone.label("hr_phone"),
        _owner.email.label("hr_email"),
        Cohort.name.label("cohort_name"),
        Cohort.starts_on,
        Cohort.ends_on,
        Cohort.place_zh,
        Cohort.place_en,
        Cohort.address,
        Cohort.map_url,
        Cohort.bring_zh,
        Cohort.bring_en,
    )
    .join(Candidate, Candidate.id == PortalLink.candidate_id)
    .outerjoin(_owner, _owner.id == Candidate.owner_id)
    .outerjoin(Cohort, Cohort.id == Candidate.cohort_id)
    .where(
        PortalLink.id == sa.bindparam("link_id"),
        PortalLink.revoked_at.is_(None),
        PortalLink.expires_at > sa.bindparam("now"),
    )
)


def load_candidate_session(link_id: int, now: datetime) -> sa.Row | None:
    """The candidate behind a cookie's link, with contact and cohort, if the link is still valid."""
    return db.session.execute(_session_query, {"link_id": link_id, "now": now}).first()


@dataclass
class PageData:
    stages: list
    reached: dict  # stage_id -> first time reached
    sessions: list
    checklist: list  # rows with .done
    stories: list


def load_page_data(candidate_id: int, cohort_id: int | None) -> PageData:
    """Everything the candidate page shows besides the session row: five statements whatever the sizes."""
    session = db.session
    stages = session.execute(sa.select(*Stage.__table__.columns).order_by(Stage.position)).all()
    reached = {}
    for stage_id, reached_at in session.execute(
        sa.select(StageEvent.stage_id, StageEvent.reached_at)
        .where(StageEvent.candidate_id == candidate_id)
        .order_by(StageEvent.reached_at)
    ):
        reached.setdefault(stage_id, reached_at)
    sessions = []
    if cohort_id is not None:
        sessions = session.execute(
            sa.select(*CohortSession.__table__.columns)
            .where(CohortSession.cohort_id == cohort_id).order_by(CohortSession.starts_at)
        ).all()
    checklist = session.execute(checklist_query(candidate_id, cohort_id)).all()
    stories = session.execute(published_stories(*STORY_SUMMARY).limit(HOME_STORY_COUNT)).all()
    return PageData(stages, reached, sessions, checklist, stories)


def checklist_query(candidate_id: int, cohort_id: int | None, item_id: int | None = None) -> sa.Select:
    """Checklist items that apply to the candidate, each with whether it is done."""
    query = (
        sa.select(
            ChecklistItem.id, ChecklistItem.label_zh, ChecklistItem.label_en,
            ChecklistCompletion.done_at.is_not(None).label("done"),
        )
        .outerjoin(ChecklistCompletion, sa.and_(
            ChecklistCompletion.item_id == ChecklistItem.id,
            ChecklistCompletion.candidate_id == candidate_id,
        ))
        .where(sa.or_(ChecklistItem.cohort_id.is_(None), ChecklistItem.cohort_id == cohort_id))
        .order_by(ChecklistItem.position, ChecklistItem.id)
    )
    if item_id is not None:
        query = query.where(ChecklistItem.id == item_id)
    return query


STORY_SUMMARY = (Story.id, Story.title_zh, Story.title_en, Story.summary_zh, Story.summary_en, Story.published_at)


def published_stories(*columns) -> sa.Select:
    """Published stories, newest first: the given columns as rows, or Story objects without their bodies."""
    query = sa.select(*columns) if columns else sa.select(Story).options(sa.orm.load_only(*STORY_SUMMARY))
    return (
        query
        .where(Story.published_at.is_not(None))
        .order_by(Story.published_at.desc(), Story.id.desc())
    )
