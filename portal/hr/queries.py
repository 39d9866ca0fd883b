"""Back-office reads. Every candidate query goes through ``visible_candidates`` (deny by default)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Candidate,
    CandidateNote,
    Cohort,
    Contact,
    EngagementEvent,
    Flag,
    PortalLink,
    StageEvent,
    User,
)
from portal.models.candidates import Status
from portal.models.engagement import EventKind
from portal.models.flags import Severity, with_derived_tier


def _scope(user: User):
    """The one access rule: admins see every candidate; HR their own and unowned ones."""
    if user.is_admin:
        return sa.true()
    return sa.or_(Candidate.owner_id == user.id, Candidate.owner_id.is_(None))


def visible_candidates(user: User) -> sa.Select:
    """Candidates a user may see."""
    return sa.select(Candidate).where(_scope(user))


def candidates_list(user: User, now: datetime, search: str = "") -> sa.Select:
    """The candidates page: newest activity first; stage, cohort and tier at ``now`` in the same statement."""
    query = (
        visible_candidates(user)
        .options(
            sa.orm.joinedload(Candidate.current_stage),
            sa.orm.joinedload(Candidate.cohort),
            sa.orm.joinedload(Candidate.risk_tier_override_by),
            with_derived_tier(now),
        )
        .order_by(Candidate.last_seen_at.desc().nulls_last(), Candidate.id.desc())
    )
    if search:
        query = query.where(Candidate.name.contains(search, autoescape=True))
    return query


# The queue's "why" filter that is no flag rule: candidates HR owe a contact (services.contacts).
CONTACT_DUE = "contact_due"


@dataclass
class QueueFilters:
    rule: str = ""  # a rule's name, or CONTACT_DUE
    severity: str = ""
    cohort_id: int | None = None
    owner_id: int | None = None


def _waiting_flags(now: datetime, filters: QueueFilters):
    """Per candidate with an open flag that is not snoozed: whether one is urgent, and the oldest one's raise time."""
    flags = (
        sa.select(
            Flag.candidate_id,
            sa.func.max(sa.case((Flag.severity == Severity.URGENT, 1), else_=0)).label("urgent"),
            sa.func.min(Flag.raised_at).label("oldest"),
        )
        .where(Flag.resolved_at.is_(None), sa.or_(Flag.snoozed_until.is_(None), Flag.snoozed_until <= now))
        .group_by(Flag.candidate_id)
    )
    if filters.rule and filters.rule != CONTACT_DUE:
        flags = flags.where(Flag.rule == filters.rule)
    if filters.severity:
        flags = flags.where(Flag.severity == filters.severity)
    return flags.subquery("waiting")


def contact_due_on(today: date):
    """Candidates still waiting to start whose next contact is due by ``today``."""
    return sa.and_(Candidate.status == Status.ACTIVE, Candidate.next_contact_on <= today)


def queue_query(user: User, filters: QueueFilters, now: datetime, today: date) -> sa.Select:
    """The follow-up queue, one row per candidate: those with an open flag (not snoozed) or a contact due.

    Urgent first, then whoever has waited longest; candidates with only a contact due follow, soonest due
    first. Stage, cohort and tier at ``now`` come in the same statement; their flags: ``open_flags_of``.
    """
    waiting = _waiting_flags(now, filters)
    flagged = waiting.c.candidate_id.is_not(None)
    due = contact_due_on(today)
    query = (
        visible_candidates(user)
        .outerjoin(waiting, waiting.c.candidate_id == Candidate.id)
        .options(
            sa.orm.joinedload(Candidate.current_stage),
            sa.orm.joinedload(Candidate.cohort),
            with_derived_tier(now),
        )
        .order_by(
            waiting.c.urgent.desc().nulls_last(), waiting.c.oldest.nulls_last(), Candidate.next_contact_on, Candidate.id
        )
    )
    if filters.rule == CONTACT_DUE:
        query = query.where(due)
    elif filters.rule or filters.severity:
        query = query.where(flagged)
    else:
        query = query.where(sa.or_(flagged, due))
    if filters.cohort_id:
        query = query.where(Candidate.cohort_id == filters.cohort_id)
    if filters.owner_id:
        query = query.where(Candidate.owner_id == filters.owner_id)
    return query


def queue_count(user: User, now: datetime, today: date) -> sa.Select:
    """How many people wait in the user's queue (the navigation badge)."""
    return sa.select(sa.func.count()).select_from(
        queue_query(user, QueueFilters(), now, today).order_by(None).subquery()
    )


def open_flags_of(candidate_ids: list[int]) -> dict[int, list[Flag]]:
    """The open flags of these candidates (snoozed ones too), urgent first, by candidate."""
    flags = db.session.scalars(
        sa.select(Flag)
        .options(sa.orm.joinedload(Flag.claimed_by))
        .where(Flag.candidate_id.in_(candidate_ids), Flag.resolved_at.is_(None))
        .order_by(sa.case((Flag.severity == Severity.URGENT, 0), else_=1), Flag.raised_at, Flag.id)
    )
    by_candidate: dict[int, list[Flag]] = {candidate_id: [] for candidate_id in candidate_ids}
    for flag in flags:
        by_candidate[flag.candidate_id].append(flag)
    return by_candidate


def open_rules_by_candidate(candidate_ids: list[int]) -> sa.Select:
    """(candidate_id, rule) of open flags, for the reasons beside each tier on a page."""
    return (
        sa.select(Flag.candidate_id, Flag.rule)
        .where(Flag.candidate_id.in_(candidate_ids), Flag.resolved_at.is_(None))
        .order_by(Flag.id)
    )


def visible_flag(user: User, flag_id: int, now: datetime) -> sa.Select:
    """One flag the user may act on, snoozed or not (deny by default), its candidate's tier at ``now``."""
    return (
        sa.select(Flag)
        .join(Candidate, Candidate.id == Flag.candidate_id)
        .options(with_derived_tier(now, sa.orm.contains_eager(Flag.candidate)))
        .where(Flag.id == flag_id, _scope(user))
    )


def visible_candidate(user: User, candidate_id: int, now: datetime) -> sa.Select:
    """One candidate the user may see (deny by default), with stage, cohort, owner and tier at ``now``."""
    return (
        visible_candidates(user)
        .options(
            sa.orm.joinedload(Candidate.current_stage),
            sa.orm.joinedload(Candidate.cohort),
            sa.orm.joinedload(Candidate.owner),
            sa.orm.joinedload(Candidate.risk_tier_override_by),
            with_derived_tier(now),
        )
        .where(Candidate.id == candidate_id)
    )


# The lists on a candidate's page, each paged by its own ?<name>= argument.
STORY_LISTS = ("moves", "contacts", "notes", "visits", "flags", "links", "history")


ACTIVITY_DAYS = 30


def activity_by_day(
    candidate_id: int, now: datetime, zone: ZoneInfo, days: int = ACTIVITY_DAYS
) -> list[tuple[date, int]]:
    """(day, visits and ticks that day) for the last ``days`` days, oldest first, in one statement
    (a sum per day over the candidate's recent events, read from ix_engagement_event_candidate_occurred)."""
    today = now.astimezone(zone).date()
    day_list = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    bounds = [datetime.combine(day, time(0), tzinfo=zone) for day in day_list]
    bounds.append(bounds[-1] + timedelta(days=1))
    at = EngagementEvent.occurred_at
    sums = [
        sa.func.coalesce(sa.func.sum(sa.case((sa.and_(at >= start, at < end), 1), else_=0)), 0)
        for start, end in zip(bounds, bounds[1:], strict=False)
    ]
    counts = db.session.execute(
        sa.select(*sums).where(
            EngagementEvent.candidate_id == candidate_id, at >= bounds[0], EngagementEvent.kind != EventKind.PREFETCH
        )
    ).one()
    return list(zip(day_list, (int(count) for count in counts), strict=True))


@dataclass
class CandidateStory:
    reached: dict  # stage_id -> first time reached, for the timeline
    activity: list  # (day, events) for the last 30 days, oldest first
    moves: Any  # each list a Pagination, newest first
    contacts: Any
    notes: Any
    visits: Any
    flags: Any
    links: Any
    history: Any


def candidate_story(
    candidate_id: int, now: datetime, pages: dict[str, int], per_page: int, zone: ZoneInfo
) -> CandidateStory:
    """The lists of one candidate's page, each a page of its own: the same statements whatever the history."""

    def page(name: str, query: sa.Select):
        return db.paginate(query, page=pages[name], per_page=per_page, error_out=False)

    reached = dict(
        db.session.execute(
            sa.select(StageEvent.stage_id, sa.func.min(StageEvent.reached_at))
            .where(StageEvent.candidate_id == candidate_id)
            .group_by(StageEvent.stage_id)
        ).all()
    )
    return CandidateStory(
        reached=reached,
        activity=activity_by_day(candidate_id, now, zone),
        moves=page(
            "moves",
            sa.select(StageEvent)
            .options(sa.orm.joinedload(StageEvent.stage), sa.orm.joinedload(StageEvent.actor))
            .where(StageEvent.candidate_id == candidate_id)
            .order_by(StageEvent.reached_at.desc(), StageEvent.id.desc()),
        ),
        contacts=page(
            "contacts",
            sa.select(Contact)
            .options(sa.orm.joinedload(Contact.actor))
            .where(Contact.candidate_id == candidate_id)
            .order_by(Contact.contacted_at.desc(), Contact.id.desc()),
        ),
        notes=page(
            "notes",
            sa.select(CandidateNote)
            .options(sa.orm.joinedload(CandidateNote.author))
            .where(CandidateNote.candidate_id == candidate_id)
            .order_by(CandidateNote.written_at.desc(), CandidateNote.id.desc()),
        ),
        visits=page(
            "visits",
            sa.select(EngagementEvent)
            .where(EngagementEvent.candidate_id == candidate_id)
            .order_by(EngagementEvent.occurred_at.desc(), EngagementEvent.id.desc()),
        ),
        flags=page(
            "flags",
            sa.select(Flag)
            .options(sa.orm.joinedload(Flag.resolved_by))
            .where(Flag.candidate_id == candidate_id)
            .order_by(Flag.resolved_at.is_not(None), Flag.raised_at.desc(), Flag.id.desc()),
        ),
        links=page(
            "links",
            sa.select(PortalLink)
            .options(sa.orm.joinedload(PortalLink.issued_by))
            .where(PortalLink.candidate_id == candidate_id)
            .order_by(PortalLink.issued_at.desc(), PortalLink.id.desc()),
        ),
        history=page(
            "history",
            sa.select(AuditEvent)
            .options(sa.orm.joinedload(AuditEvent.actor))
            .where(AuditEvent.object_type == "candidate", AuditEvent.object_id == candidate_id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()),
        ),
    )


def talent_pool_query(user: User) -> sa.Select:
    """Candidates who left with a date to contact them again, soonest first (ix_candidate_talent_pool)."""
    return (
        visible_candidates(user)
        .options(sa.orm.joinedload(Candidate.left_reason), sa.orm.joinedload(Candidate.owner))
        .where(Candidate.status == Status.LEFT, Candidate.recontact_on.is_not(None))
        .order_by(Candidate.recontact_on, Candidate.id)
    )


def recent_cohorts() -> sa.Select:
    """(id, name) of the cohorts HR choose from, newest first: monthly, so 50 reach four years back."""
    return sa.select(Cohort.id, Cohort.name).order_by(Cohort.starts_on.desc()).limit(50)


def active_staff() -> sa.Select:
    """(id, name) of every active staff member, by name: who may own candidates."""
    return sa.select(User.id, User.name).where(User.active).order_by(User.name)
