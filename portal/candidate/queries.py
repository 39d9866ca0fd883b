"""Reads for the candidate page, the hot path.

Plain SQLAlchemy Core on tables (no ORM layer) and a fixed number of statements per page:
the candidate's own rows are read every time; content every candidate shares (pipeline,
stories, checklist, cohort schedules) comes from a per-process cache that lives a few seconds.
"""

import time
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import (
    Candidate,
    ChecklistCompletion,
    ChecklistItem,
    Cohort,
    CohortSession,
    PortalLink,
    Stage,
    StageEvent,
    Store,
    Story,
    ThreadMessage,
    User,
    WaitlistEntry,
)
from portal.models.base import table_of

HOME_STORY_COUNT = 3
# How long shared content may be stale in one process after an admin edits it.
SHARED_CONTENT_SECONDS = 10

link, candidate, cohort = table_of(PortalLink), table_of(Candidate), table_of(Cohort)
owner = table_of(User).alias("owner")
stage, stage_event, session_table = table_of(Stage), table_of(StageEvent), table_of(CohortSession)
item, completion, story = table_of(ChecklistItem), table_of(ChecklistCompletion), table_of(Story)
store, waitlist, thread = table_of(Store), table_of(WaitlistEntry), table_of(ThreadMessage)

_session_columns = (
    link.c.id.label("link_id"),
    link.c.first_opened_at,
    link.c.expires_at,
    candidate.c.id.label("candidate_id"),
    candidate.c.name,
    candidate.c.locale,
    candidate.c.status,
    candidate.c.district,
    candidate.c.cohort_id,
    candidate.c.current_stage_id,
    candidate.c.messages_stopped_at,
    candidate.c.attendance_confirmed_at,
    store.c.name.label("store_name"),
    store.c.address.label("store_address"),
    # The cohort they wait for a place in, if any (one at a time: services.cohorts).
    sa.select(waitlist.c.cohort_id)
    .where(waitlist.c.candidate_id == candidate.c.id)
    .limit(1)
    .scalar_subquery()
    .label("waiting_for_cohort_id"),
    # Whether they ever wrote to HR: the page reads the thread only then.
    sa.exists().where(thread.c.candidate_id == candidate.c.id).label("has_thread"),
    owner.c.name.label("hr_name"),
    owner.c.phone.label("hr_phone"),
    owner.c.email.label("hr_email"),
)
_session_join = (
    link.join(candidate, candidate.c.id == link.c.candidate_id)
    .outerjoin(owner, owner.c.id == candidate.c.owner_id)
    .outerjoin(store, store.c.id == candidate.c.store_id)
)
_link_works = sa.and_(link.c.id == sa.bindparam("link_id"), PortalLink.works_at(sa.bindparam("now")))

_session_query = sa.select(*_session_columns).select_from(_session_join).where(_link_works)

# The page's one read of the candidate's own rows: the session row once per stage event reached
# (once with an empty progress when there is none), and once more per ticked checklist item.
_page_query = sa.union_all(
    sa.select(
        *_session_columns,
        sa.literal("stage").label("kind"),
        stage_event.c.stage_id.label("ref"),
        stage_event.c.reached_at.label("at"),
    )
    .select_from(_session_join.outerjoin(stage_event, stage_event.c.candidate_id == candidate.c.id))
    .where(_link_works),
    sa.select(*_session_columns, sa.literal("item"), completion.c.item_id, completion.c.done_at)
    .select_from(_session_join.join(completion, completion.c.candidate_id == candidate.c.id))
    .where(_link_works),
)


def load_candidate_session(link_id: int, now: datetime) -> sa.Row | None:
    """The candidate behind a cookie's link, with contact and cohort, if the link is still valid."""
    return db.session.connection().execute(_session_query, {"link_id": link_id, "now": now}).first()


def load_page(link_id: int, now: datetime) -> "tuple[sa.Row, PageData] | None":
    """As load_candidate_session, with everything the page shows: one statement, plus shared content when stale."""
    rows = db.session.connection().execute(_page_query, {"link_id": link_id, "now": now}).all()
    if not rows:
        return None
    session = rows[0]
    progress = sorted((row for row in rows if row.ref is not None), key=lambda row: row.at)
    return session, page_data(session.cohort_id, progress)


@dataclass
class PageData:
    stages: list
    reached: dict  # stage_id -> first time reached
    cohort: sa.Row | None  # shared by every member: never holds anything personal
    sessions: list
    checklist: list  # (id, label_zh, label_en, done)
    stories: list


@dataclass
class ChecklistEntry:
    id: int
    label_zh: str
    label_en: str
    done: bool
    required: bool = False
    due_on: date | None = None  # required items with a due day: that many days before their cohort starts


class SharedContent:
    """Content every candidate sees, read at most once per SHARED_CONTENT_SECONDS in each process."""

    def __init__(self):
        self._values: dict = {}

    def get(self, key, load):
        now = time.monotonic()
        hit = self._values.get(key)
        if hit is None or hit[0] < now:
            hit = (now + SHARED_CONTENT_SECONDS, load())
            self._values[key] = hit
        return hit[1]


def shared_content() -> SharedContent:
    return current_app.extensions.setdefault("keepwarm_shared_content", SharedContent())


def _rows(query, **params) -> list[sa.Row]:
    return list(db.session.connection().execute(query, params).all())


def page_data(cohort_id: int | None, progress: list) -> PageData:
    """The page's content: shared content (read when stale) and the candidate's progress, oldest first."""
    cache = shared_content()
    stages = cache.get("stages", lambda: _rows(sa.select(stage).order_by(stage.c.position)))
    stories = cache.get("home_stories", lambda: _rows(published_stories(*STORY_SUMMARY).limit(HOME_STORY_COUNT)))
    items = cache.get(
        ("checklist", cohort_id),
        lambda: _rows(sa.select(item).where(ChecklistItem.applies_to(cohort_id)).order_by(item.c.position, item.c.id)),
    )
    cohort_row, sessions = shared_cohort(cohort_id) if cohort_id is not None else (None, [])
    reached: dict[int, datetime] = {}
    done: set[int] = set()
    for row in progress:
        if row.kind == "stage":
            reached.setdefault(row.ref, row.at)
        else:
            done.add(row.ref)
    starts_on = cohort_row.starts_on if cohort_row is not None else None
    checklist = [checklist_entry(i, i.id in done, starts_on) for i in items]
    return PageData(stages, reached, cohort_row, sessions, checklist, stories)


def shared_cohort(cohort_id: int) -> tuple[sa.Row | None, list]:
    """A cohort's row and its sessions (those not removed), from the shared content."""
    return shared_content().get(
        ("cohort", cohort_id),
        lambda: (
            db.session.connection().execute(sa.select(cohort).where(cohort.c.id == cohort_id)).first(),
            _rows(
                sa.select(session_table)
                .where(session_table.c.cohort_id == cohort_id, session_table.c.removed_at.is_(None))
                .order_by(session_table.c.starts_at)
            ),
        ),
    )


def checklist_entry(item, done: bool, starts_on: date | None) -> ChecklistEntry:
    """An item as the candidate sees it: done or not, required, and by when (ChecklistItem.due_on)."""
    due_on = ChecklistItem.due_on(item.required, item.due_days_before, starts_on)
    return ChecklistEntry(item.id, item.label_zh, item.label_en, done, item.required, due_on)


def checklist_query(candidate_id: int, cohort_id: int | None, item_id: int | None = None) -> sa.Select:
    """Checklist items that apply to the candidate, each with whether it is done."""
    query = (
        sa.select(
            ChecklistItem.id,
            ChecklistItem.label_zh,
            ChecklistItem.label_en,
            ChecklistItem.required,
            ChecklistItem.due_days_before,
            ChecklistCompletion.done_at.is_not(None).label("done"),
        )
        .outerjoin(
            ChecklistCompletion,
            sa.and_(
                ChecklistCompletion.item_id == ChecklistItem.id,
                ChecklistCompletion.candidate_id == candidate_id,
            ),
        )
        .where(ChecklistItem.applies_to(cohort_id))
        .order_by(ChecklistItem.position, ChecklistItem.id)
    )
    if item_id is not None:
        query = query.where(ChecklistItem.id == item_id)
    return query


STORY_SUMMARY = (Story.id, Story.title_zh, Story.title_en, Story.summary_zh, Story.summary_en, Story.published_at)


def published_stories(*columns) -> sa.Select:
    """Published stories, newest first: the given columns as rows, or Story objects without their bodies."""
    query = sa.select(*columns) if columns else sa.select(Story).options(sa.orm.load_only(*STORY_SUMMARY))
    return query.where(Story.published_at.is_not(None)).order_by(Story.published_at.desc(), Story.id.desc())
