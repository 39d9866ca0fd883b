"""Back-office reads. Every candidate query goes through ``visible_candidates`` (deny by default)."""

import re
import unicodedata
from collections.abc import Callable, Sequence
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
    ChecklistCompletion,
    ChecklistItem,
    Cohort,
    Contact,
    EngagementEvent,
    Flag,
    Outbox,
    PortalLink,
    Stage,
    StageEvent,
    Store,
    User,
    WaitlistEntry,
)
from portal.models.candidates import Status
from portal.models.engagement import EventKind
from portal.models.flags import TASK_RULES, Severity, derived_tier, tier_is, with_derived_tier
from portal.models.planner import dense, usually
from portal.services.cohorts import TAKES_A_PLACE
from portal.services.scan import TRAINING_NOTICE_KEY
from portal.services.threads import thread_of


def _scope_parts(user: User, narrowed: bool = False) -> list:
    """The one access rule, as conditions no candidate meets twice: admins see every candidate; HR their own
    and unowned ones. ``narrowed``: a filter with an index of its own, which also holds the owner, comes
    with it, and SQLite should read that one (a stage: 1,600 of 17,000) rather than the owner's (9,700)."""
    if user.is_admin:
        return [sa.true()]
    owner = dense(Candidate.owner_id) if narrowed else Candidate.owner_id
    return [owner == user.id, owner.is_(None)]


def _scope(user: User, narrowed: bool = False):
    """The access rule as one condition."""
    return sa.or_(*_scope_parts(user, narrowed))


def visible_candidates(user: User) -> sa.Select:
    """Candidates a user may see."""
    return sa.select(Candidate).where(_scope(user))


# The queue's "why" filter that is no flag rule: candidates HR owe a contact (services.contacts).
CONTACT_DUE = "contact_due"


@dataclass
class QueueFilters:
    rule: str = ""  # a rule's name, or CONTACT_DUE
    severity: str = ""
    cohort_id: int | None = None
    owner_id: int | None = None


def _waiting(now: datetime, filters: QueueFilters) -> list:
    """The conditions of an open flag that is not snoozed (and matches the queue's rule and severity filters)."""
    conditions = [Flag.resolved_at.is_(None), sa.or_(Flag.snoozed_until.is_(None), Flag.snoozed_until <= now)]
    if filters.rule and filters.rule != CONTACT_DUE:
        conditions.append(Flag.rule == filters.rule)
    if filters.severity:
        conditions.append(Flag.severity == filters.severity)
    return conditions


def _waiting_flags(now: datetime, filters: QueueFilters):
    """Per candidate with a waiting flag: how pressing the most pressing one is (an overdue task, then urgent,
    then the rest) and since when they wait (the queue's order). A risk flag waits since it was raised; a task
    since the candidate asked (its evidence): ordering by that time is ordering by working time waited, as
    an earlier question has never waited less working time than a later one."""
    pressing = sa.case((Flag.overdue_since.is_not(None), 2), (Flag.severity == Severity.URGENT, 1), else_=0)
    since = sa.case(
        (Flag.rule.in_(TASK_RULES), sa.func.coalesce(Flag.evidence_at, Flag.raised_at)), else_=Flag.raised_at
    )
    return (
        sa.select(
            Flag.candidate_id,
            sa.func.max(pressing).label("urgent"),
            sa.func.min(since).label("oldest"),
        )
        .where(*_waiting(now, filters))
        .group_by(Flag.candidate_id)
        .subquery("waiting")
    )


def contact_due_on(today: date, columns: Any = Candidate):
    """Candidates still waiting to start whose next contact is due by ``today`` (ix_candidate_next_contact;
    the status is marked dense, or SQLite would read every active candidate from the status index)."""
    return sa.and_(dense(columns.status) == Status.ACTIVE, columns.next_contact_on <= today)


def queue_page(user: User, filters: QueueFilters, now: datetime, today: date, page: int, per_page: int) -> "ListPage":
    """A page of the follow-up queue, one row per candidate: those with an open flag (not snoozed) or a
    contact due.

    Urgent first, then whoever has waited longest; candidates with only a contact due follow, soonest due
    first. Who is queued is read once (materialized, by the owner's index for HR), counted and ordered in one
    statement; stage, cohort and the tier at ``now`` (a correlated subquery) are then read for the page's
    rows alone: at 14,000 people waiting, the tier of each before the sort cost 30 ms. Their flags:
    ``open_flags_of``. A page past the last counts again.
    """
    flagged = sa.select(Flag.candidate_id).where(*_waiting(now, filters))
    queued = sa.select(Candidate.id, Candidate.next_contact_on).where(
        _scope(user), Candidate.id.in_(_queue_ids(flagged, filters, today))
    )
    if filters.cohort_id:
        queued = queued.where(Candidate.cohort_id == filters.cohort_id)
    if filters.owner_id:
        queued = queued.where(Candidate.owner_id == filters.owner_id)
    matches = queued.cte("queued").prefix_with("MATERIALIZED")
    waiting = _waiting_flags(now, filters)
    shown = (
        sa.select(matches.c.id, waiting.c.urgent, waiting.c.oldest, sa.func.count().over().label("total"))
        .outerjoin(waiting, waiting.c.candidate_id == matches.c.id)
        .order_by(
            waiting.c.urgent.desc().nulls_last(), waiting.c.oldest.nulls_last(), matches.c.next_contact_on, matches.c.id
        )
        .limit(per_page)
        .offset((page - 1) * per_page)
        .subquery("shown")
    )
    rows = db.session.execute(
        sa.select(Candidate, shown.c.total)
        .join(shown, shown.c.id == Candidate.id)
        .options(
            sa.orm.joinedload(Candidate.current_stage),
            sa.orm.joinedload(Candidate.cohort),
            with_derived_tier(now),
        )
        .order_by(
            shown.c.urgent.desc().nulls_last(), shown.c.oldest.nulls_last(), Candidate.next_contact_on, Candidate.id
        )
    ).all()
    if rows:
        total = rows[0][1]
    else:
        total = db.session.scalar(sa.select(sa.func.count()).select_from(queued.subquery())) if page > 1 else 0
    return ListPage(items=[row[0] for row in rows], page=page, per_page=per_page, total=total, more=False, cap=total)


def _queue_ids(flagged: sa.Select, filters: QueueFilters, today: date) -> sa.Select | sa.CompoundSelect:
    """Who is in the queue, found from the few waiting flags and the few contacts due (both indexed), never by
    reading every candidate: at 100,000 candidates that made every back-office page's badge cost 20-35 ms."""
    due = sa.select(Candidate.id).where(contact_due_on(today))
    if filters.rule == CONTACT_DUE:
        return due
    if filters.rule or filters.severity:
        return flagged
    return sa.union(flagged, due)


def queue_count(user: User, now: datetime, today: date) -> sa.Select:
    """How many people wait in the user's queue (the navigation badge, on every back-office page).

    Read from indexes alone (ix_flag_open, ix_candidate_next_contact, ix_candidate_owner_contact): admins
    count the union of the waiting flags' candidates and the contacts due; HR count their scope's candidates
    among them, the scope read part by part (PostgreSQL reads an index alone for "owner = me" and for
    "no owner", but not for "owner = me or none").
    """
    waiting = sa.select(Flag.candidate_id).where(*_waiting(now, QueueFilters()))
    if user.is_admin:
        queued = _queue_ids(waiting, QueueFilters(), today).subquery("queued")
        return sa.select(sa.func.count()).select_from(queued)
    columns = (Candidate.id, Candidate.next_contact_on, Candidate.status)
    scope = sa.union_all(*(sa.select(*columns).where(part) for part in _scope_parts(user))).subquery("scope")
    return (
        sa.select(sa.func.count())
        .select_from(scope)
        .where(sa.or_(scope.c.id.in_(waiting), contact_due_on(today, scope.c)))
    )


def open_flags_of(candidate_ids: list[int]) -> dict[int, list[Flag]]:
    """The open flags of these candidates (snoozed ones too), overdue and urgent first, by candidate."""
    flags = db.session.scalars(
        sa.select(Flag)
        .options(sa.orm.joinedload(Flag.claimed_by))
        .where(Flag.candidate_id.in_(candidate_ids), dense(Flag.resolved_at).is_(None))
        .order_by(
            Flag.overdue_since.is_(None),
            sa.case((Flag.severity == Severity.URGENT, 0), else_=1),
            Flag.raised_at,
            Flag.id,
        )
    )
    by_candidate: dict[int, list[Flag]] = {candidate_id: [] for candidate_id in candidate_ids}
    for flag in flags:
        by_candidate[flag.candidate_id].append(flag)
    return by_candidate


def open_rules_by_candidate(candidate_ids: list[int]) -> sa.Select:
    """(candidate_id, rule) of open risk flags, for the reasons beside each tier on a page (tasks move no tier)."""
    return (
        sa.select(Flag.candidate_id, Flag.rule)
        .where(Flag.candidate_id.in_(candidate_ids), dense(Flag.resolved_at).is_(None), Flag.rule.not_in(TASK_RULES))
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
STORY_LISTS = ("moves", "contacts", "notes", "visits", "flags", "links", "messages", "history", "thread")


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
    messages: Any
    history: Any
    thread: Any  # the candidate's questions and requests and HR's answers
    sent_links: dict  # link id -> the message that carried it, for the page's visits ("through …")


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
    visits = page(
        "visits",
        sa.select(EngagementEvent)
        .where(EngagementEvent.candidate_id == candidate_id)
        .order_by(EngagementEvent.occurred_at.desc(), EngagementEvent.id.desc()),
    )
    link_ids = {visit.link_id for visit in visits.items if visit.link_id is not None}
    sent_links = (
        {
            message.link_id: message
            for message in db.session.scalars(sa.select(Outbox).where(Outbox.link_id.in_(link_ids)))
        }
        if link_ids
        else {}
    )
    return CandidateStory(
        reached=reached,
        activity=activity_by_day(candidate_id, now, zone),
        sent_links=sent_links,
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
        visits=visits,
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
        messages=page(
            "messages",
            sa.select(Outbox)
            .options(
                sa.orm.joinedload(Outbox.link),
                sa.orm.joinedload(Outbox.created_by),
                sa.orm.joinedload(Outbox.automation),
            )
            .where(Outbox.candidate_id == candidate_id)
            # By when each went or goes: a welcome queued with tips three days later comes below them.
            .order_by(sa.func.coalesce(Outbox.sent_at, Outbox.due_at).desc(), Outbox.id.desc()),
        ),
        thread=page("thread", thread_of(candidate_id)),
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


def assignable_cohorts(today: date) -> list[tuple[str, str]]:
    """(id, "name · first day") of the cohorts someone can be put in (not cancelled, not ended), soonest
    first: what HR choose from when they assign one."""
    from portal.models.cohorts import CohortStatus
    from portal.templating import local_date

    rows = db.session.execute(
        sa.select(Cohort.id, Cohort.name, Cohort.starts_on)
        .where(Cohort.status == CohortStatus.OPEN, Cohort.ends_on >= today)
        .order_by(Cohort.starts_on, Cohort.id)
        .limit(50)
    )
    return [(str(id_), f"{name} · {local_date(starts_on)}") for id_, name, starts_on in rows]


def assignable_owners(user: User) -> Sequence:
    """(id, name) of whom ``user`` may give a candidate to: admins any active staff member, HR themselves
    (services.candidates.check_owner enforces the same rule)."""
    return db.session.execute(active_staff()).all() if user.is_admin else [(user.id, user.name)]


def active_staff() -> sa.Select:
    """(id, name) of every active staff member, by name: who may own candidates."""
    return sa.select(User.id, User.name).where(User.active).order_by(User.name)


# The candidates list (hr.candidates), its exports and its bulk actions share one set of filters. Every filter
# is a plain condition on candidate columns, or on the small set of candidates with open flags, so the index
# it needs is on the candidate table (migration 0010 says which serves which).

FLAG_STATES = ("open", "urgent", "none")  # an open flag (snoozed too), an open urgent one, no open flag
LIST_COUNT_CAP = 10_000  # the list counts to one past this and then says "more than 10,000"
# The sorts a list may ask for, by key (anything else: the first), each served by an index of migration 0010
# and ending in the id so that pages never overlap. ``c``: the candidate columns (the model, or a subquery's).
LIST_SORTS: dict[str, Callable[[Any], tuple]] = {
    "last_visit": lambda c: (c.last_seen_at.desc().nulls_last(), c.id.desc()),
    "name": lambda c: (c.name, c.id),
    "added": lambda c: (c.created_at.desc(), c.id.desc()),
}


@dataclass
class ListFilters:
    """What the candidates list is filtered by; the empty value of each means "any"."""

    search: str = ""  # name, any part of the phone number, or email
    stage_id: int | None = None
    cohort_id: int | None = None
    owner_id: int | None = None
    unassigned: bool = False
    site: str = ""
    position: str = ""
    source_channel: str = ""
    tier: str = ""
    flags: str = ""  # one of FLAG_STATES
    status: str = ""
    seen_from: date | None = None  # last visit on or after this day (the organisation's days)
    seen_to: date | None = None  # ... and on or before this one
    never_seen: bool = False
    contact_due: bool = False
    sort: str = "last_visit"

    def describe(self) -> str:
        """The filter in one line for the audit log: the search only as its length, as it may be a name or a phone."""
        parts = []
        for name, value in vars(self).items():
            if value in ("", None, False) or (name == "sort" and value == "last_visit"):
                continue
            if name == "search":
                value = f"({len(value)} characters)"
            parts.append(f"{name}={'yes' if value is True else value}")
        return ", ".join(parts) or "none"


def phone_digits(text: str) -> str:
    """The digits of a phone-number-like search (full-width digits too; a leading +86 or 0086 dropped), else ""."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not _PHONE_LIKE.fullmatch(text):
        return ""
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    digits = re.sub(r"\D", "", text)
    return digits if len(digits) >= MIN_PHONE_DIGITS else ""


_PHONE_LIKE = re.compile(r"[\d\s\-+().]+")
MIN_PHONE_DIGITS = 3


def _search(text: str):
    """What a search matches: a phone-like text (digits, spaces, dashes, a +86) any part of the phone number;
    a text with an @ any part of the email; anything else any part of the name (any case) or of the email.

    Phones are stored in E.164 (+8613900000001), so the digits typed are looked for in the stored number.
    No B-tree index finds a part of a value: a search reads every candidate in the user's scope once
    (list_page), so it compares one column where it can.
    """
    digits = phone_digits(text)
    if digits:
        return Candidate.phone.contains(digits, autoescape=True)
    email = Candidate.email.contains(text.lower(), autoescape=True)
    if "@" in text:
        return email
    # Chinese has no case: a plain LIKE then matches the same and costs a third of a case-folding one.
    cased = text.lower() != text.upper()
    name = Candidate.name.icontains(text, autoescape=True) if cased else Candidate.name.contains(text, autoescape=True)
    return sa.or_(name, email)


def _open_flags(*conditions) -> sa.Select:
    """Candidates with an open flag (snoozed ones too): a few per cent of all, read from the open-flag indexes."""
    return sa.select(Flag.candidate_id).where(Flag.resolved_at.is_(None), *conditions)


def _values_containing(column: Any, text: str) -> sa.Select:
    """The distinct values of an indexed column (a site, a position, a source) that contain ``text``.

    No index finds "any part" of a value, but a few hundred stores are far fewer than 100,000 candidates:
    the values are listed by skipping through the column's index, one seek per value (a "loose index
    scan", a recursive query), and only those that contain the text are then looked up. A site filter at
    100,000 candidates: 0.2 ms on SQLite and 1 ms on PostgreSQL, where a LIKE over every row took 7-10 ms.
    """
    values = sa.select(sa.func.min(column).label("value")).cte(f"{column.key}_values", recursive=True)
    following = sa.select(column).where(column > values.c.value).order_by(column).limit(1).scalar_subquery()
    values = values.union_all(sa.select(following).where(values.c.value.is_not(None)))
    return sa.select(values.c.value).where(values.c.value.contains(text, autoescape=True))


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def list_conditions(user: User, filters: ListFilters, now: datetime, zone: ZoneInfo) -> list:
    """The WHERE of the list, its count, its export and its bulk actions: the user's scope and every filter."""
    f = filters
    # The filters whose index holds the owner too (ix_candidate_*_owner, ix_candidate_stage_reached).
    narrowed = any((f.stage_id, f.cohort_id, f.site, f.position, f.source_channel))
    conditions = [_scope(user, narrowed)]
    if f.search:
        conditions.append(_search(f.search))
    if f.stage_id:
        conditions.append(Candidate.current_stage_id == f.stage_id)
    if f.cohort_id:
        conditions.append(Candidate.cohort_id == f.cohort_id)
    if f.unassigned:
        conditions.append(Candidate.owner_id.is_(None))
    elif f.owner_id:
        conditions.append(Candidate.owner_id == f.owner_id)
    # What HR type is often part of the value (苏州 for 苏州 · 园区店): any part matches.
    for column, value in (
        (Candidate.site, f.site),
        (Candidate.position, f.position),
        (Candidate.source_channel, f.source_channel),
    ):
        if value:
            conditions.append(column.in_(_values_containing(column, value)))
    if f.status:
        conditions.append(dense(Candidate.status) == f.status)
    if f.contact_due:
        conditions.append(contact_due_on(now.astimezone(zone).date()))
    if f.seen_from:
        conditions.append(Candidate.last_seen_at >= _start_of(f.seen_from, zone))
    if f.seen_to:
        conditions.append(Candidate.last_seen_at < _start_of(f.seen_to + timedelta(days=1), zone))
    if f.never_seen:
        conditions.append(dense(Candidate.last_seen_at).is_(None))
    if f.flags == "open":
        conditions.append(Candidate.id.in_(_open_flags()))
    elif f.flags == "urgent":
        conditions.append(Candidate.id.in_(_open_flags(Flag.severity == Severity.URGENT)))
    elif f.flags == "none":
        conditions.append(Candidate.id.not_in(_open_flags()))
    if f.tier:
        conditions.append(tier_is(f.tier, now))
    return conditions


def _order(filters: ListFilters, columns: Any = Candidate) -> tuple:
    return LIST_SORTS.get(filters.sort, LIST_SORTS["last_visit"])(columns)


def _capped_count(conditions: list, cap: int) -> int:
    """How many candidates meet ``conditions``, counted up to ``cap`` + 1 only."""
    capped = sa.select(Candidate.id).where(*conditions).limit(cap + 1).subquery("capped")
    return db.session.scalar(sa.select(sa.func.count()).select_from(capped)) or 0


def _page_ids(conditions: list, filters: ListFilters, total: int, page: int, per_page: int) -> sa.Subquery:
    """The ids of one page, in order, chosen by how many candidates match (known from the capped count).

    Past the cap the matches are dense: reading the sort's index in order finds a page after a few rows.
    Up to the cap they may be rare (a site, a flag state, a tier): the matches are read first by the
    filter's own index and only they are sorted. The LIMIT keeps that subquery from being merged into the
    outer one, so that neither database walks the sort's index through 100,000 rows to find a few.
    """
    offset = (page - 1) * per_page
    if total > LIST_COUNT_CAP:
        # Each condition matches more than the cap: SQLite, told so, walks the sort's index rather than
        # reading a filter's and sorting (a stage of 17,000 candidates: 24 ms, now under 1).
        ordered = sa.select(Candidate.id).where(*map(usually, conditions)).order_by(*_order(filters))
        return ordered.limit(per_page).offset(offset).subquery("shown")
    matches = sa.select(*_SORT_COLUMNS).where(*conditions).limit(LIST_COUNT_CAP + 1).subquery("matches")
    ordered = sa.select(matches.c.id).order_by(*_order(filters, matches.c))
    return ordered.limit(per_page).offset(offset).subquery("shown")


_SORT_COLUMNS = (Candidate.id, Candidate.last_seen_at, Candidate.name, Candidate.created_at)

# Below the cap, a page is first looked for among the first WALK_ROWS candidates in the sort's order, when
# there are at least WALK_FROM matches: an HR user's 9,700 candidates of 100,000 fill a page after ~250.
WALK_ROWS, WALK_FROM = 2_000, 1_000


def _walked_page_ids(conditions: list, filters: ListFilters, page: int, per_page: int) -> sa.Subquery:
    """The ids of one page if the first WALK_ROWS candidates in the sort's order hold it, else fewer.

    The walk reads the sort's index and, for the candidates it passes, their rows; it never goes further, so
    matches that gather at the far end of the order (those who stopped visiting, sorted by last visit) cost
    at most WALK_ROWS rows before list_page reads them by the filter's index instead.
    """
    # A join from the walked ids, not "id IN (walked)": PostgreSQL read all candidates for the IN (25 ms).
    walked = sa.select(Candidate.id).order_by(*_order(filters)).limit(WALK_ROWS).subquery("walked")
    ordered = (
        sa.select(Candidate.id)
        .select_from(walked)
        .join(Candidate, Candidate.id == walked.c.id)
        .where(*map(usually, conditions))
        .order_by(*_order(filters))
    )
    return ordered.limit(per_page).offset((page - 1) * per_page).subquery("shown")


def _searched_page_ids(conditions: list, filters: ListFilters, page: int, per_page: int) -> sa.Subquery:
    """A search's page ids, each with the number of matches: no index finds "any part" of a name or a
    phone number, so the candidates are read once (materialized), counted and sorted in one statement,
    where a count and a page would read them twice."""
    matches = sa.select(*_SORT_COLUMNS).where(*conditions).cte("matches").prefix_with("MATERIALIZED")
    ordered = sa.select(matches.c.id, sa.func.count().over().label("total")).order_by(*_order(filters, matches.c))
    return ordered.limit(per_page).offset((page - 1) * per_page).subquery("shown")


@dataclass
class ListPage:
    """One page of the list and how many there are, counted up to ``cap`` + 1 (``more``: past the cap)."""

    items: list
    page: int
    per_page: int
    total: int
    more: bool
    cap: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages or (self.more and len(self.items) == self.per_page)

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def list_page(user: User, filters: ListFilters, now: datetime, zone: ZoneInfo, page: int, per_page: int) -> ListPage:
    """A page of the list, in statements that do not grow with the number of candidates.

    Without a search: first the matches counted up to LIST_COUNT_CAP + 1 (an unfiltered count of 100,000
    never reads them all), which also says how to find the page (_walked_page_ids, _page_ids); then the
    page's ids and, for those rows alone, stage, cohort, owner, who set a tier, and the derived tier (a
    correlated subquery). With a search, one statement does both (_searched_page_ids); a page past the last
    one counts again.
    """
    conditions = list_conditions(user, filters, now, zone)
    rows: Sequence[sa.Row]
    if filters.search:
        rows = _page_rows(_searched_page_ids(conditions, filters, page, per_page), filters, now)
        total = rows[0][1] if rows else _capped_count(conditions, LIST_COUNT_CAP) if page > 1 else 0
    else:
        total = _capped_count(conditions, LIST_COUNT_CAP)
        if total > LIST_COUNT_CAP:
            rows = _page_rows(_page_ids(conditions, filters, total, page, per_page), filters, now)
        else:
            on_page = max(0, min(per_page, total - (page - 1) * per_page))  # 0: a page past the last
            rows = []
            if total >= WALK_FROM and on_page and page * per_page <= WALK_ROWS:
                rows = _page_rows(_walked_page_ids(conditions, filters, page, per_page), filters, now)
            if len(rows) < on_page:
                rows = _page_rows(_page_ids(conditions, filters, total, page, per_page), filters, now)
    return ListPage(
        items=[row[0] for row in rows],
        page=page,
        per_page=per_page,
        total=min(total, LIST_COUNT_CAP),
        more=total > LIST_COUNT_CAP,
        cap=LIST_COUNT_CAP,
    )


def _page_rows(shown: sa.Subquery, filters: ListFilters, now: datetime) -> Sequence[sa.Row]:
    """The page's candidates (with the number of matches when ``shown`` has it), in the list's order."""
    total = shown.c.total if "total" in shown.c else sa.null()
    return db.session.execute(
        sa.select(Candidate, total)
        .join(shown, shown.c.id == Candidate.id)
        .options(
            sa.orm.joinedload(Candidate.current_stage),
            sa.orm.joinedload(Candidate.cohort),
            sa.orm.joinedload(Candidate.owner),
            sa.orm.joinedload(Candidate.risk_tier_override_by),
            with_derived_tier(now),
        )
        .order_by(*_order(filters))
    ).all()


def list_count(user: User, filters: ListFilters, now: datetime, zone: ZoneInfo, cap: int) -> int:
    """How many candidates the filter matches, counted up to ``cap`` + 1 (an export refuses more than ``cap``)."""
    return _capped_count(list_conditions(user, filters, now, zone), cap)


def export_rows(user: User, filters: ListFilters, now: datetime, zone: ZoneInfo, limit: int) -> sa.Select:
    """The list as rows for a file, in the list's order: the columns services.exporting writes, in one statement."""
    owner = sa.orm.aliased(User)
    tier = sa.func.coalesce(Candidate.risk_tier_override, derived_tier(Candidate.id, now))
    return (
        sa.select(
            Candidate.id,
            Candidate.name,
            Candidate.phone,
            Candidate.email,
            Candidate.position,
            Candidate.site,
            Candidate.source_channel,
            Stage.label_zh.label("stage_label_zh"),
            Stage.label_en.label("stage_label_en"),
            Cohort.name.label("cohort"),
            owner.name.label("owner"),
            Candidate.status,
            tier.label("tier"),
            Candidate.last_seen_at,
            Candidate.next_contact_on,
            Candidate.tags,
            Candidate.created_at,
        )
        .outerjoin(Stage, Stage.id == Candidate.current_stage_id)
        .outerjoin(Cohort, Cohort.id == Candidate.cohort_id)
        .outerjoin(owner, owner.id == Candidate.owner_id)
        .where(*list_conditions(user, filters, now, zone))
        .order_by(*_order(filters))
        .limit(limit)
    )


def visible_among(user: User, candidate_ids: list[int]) -> sa.Select:
    """Those of these candidates the user may see (a bulk action acts on them; the rest are "not found")."""
    return visible_candidates(user).where(Candidate.id.in_(candidate_ids)).order_by(Candidate.id)


def list_choices(user: User) -> dict:
    """What the list's filters and bulk actions choose from: the stages, the newest cohorts, and the owners
    (admins: every active staff member; HR: themselves), each in one statement."""
    stages = db.session.scalars(sa.select(Stage).order_by(Stage.position)).all()
    cohorts = db.session.execute(recent_cohorts()).all()
    return {"stages": stages, "cohorts": cohorts, "owners": assignable_owners(user)}


# --------------------------------------------------------------------------------------------
# The cohort view (hr.cohorts).
# --------------------------------------------------------------------------------------------


def cohorts_overview(today: date, *, past: bool) -> sa.Select:
    """Cohorts not ended a fortnight ago, soonest first (``past``: every cohort, newest first)."""
    if past:
        return sa.select(Cohort).order_by(Cohort.starts_on.desc(), Cohort.id.desc())
    return sa.select(Cohort).where(Cohort.ends_on >= today - timedelta(days=14)).order_by(Cohort.starts_on, Cohort.id)


@dataclass(frozen=True)
class CohortCounts:
    members: int = 0  # places taken (active and started members)
    confirmed: int = 0
    waiting: int = 0


def cohort_counts(cohort_ids: list[int]) -> dict[int, CohortCounts]:
    """Places taken, confirmations and waitlist of each cohort, in two grouped reads for a page of them."""
    members = db.session.execute(
        sa.select(Candidate.cohort_id, sa.func.count(), sa.func.count(Candidate.attendance_confirmed_at))
        .where(Candidate.cohort_id.in_(cohort_ids), Candidate.status.in_(TAKES_A_PLACE))
        .group_by(Candidate.cohort_id)
    ).all()
    waiting = dict(
        db.session.execute(
            sa.select(WaitlistEntry.cohort_id, sa.func.count())
            .where(WaitlistEntry.cohort_id.in_(cohort_ids))
            .group_by(WaitlistEntry.cohort_id)
        ).all()
    )
    counts = {cohort_id: CohortCounts(waiting=waiting.get(cohort_id, 0)) for cohort_id in cohort_ids}
    for cohort_id, taken, confirmed in members:
        if cohort_id is not None:  # (the IN has none; the column may)
            counts[cohort_id] = CohortCounts(taken, confirmed, waiting.get(cohort_id, 0))
    return counts


def cohort_members(user: User, cohort: Cohort) -> sa.Select:
    """The cohort's members the user may see, active and started, by name."""
    return (
        visible_candidates(user)
        .where(Candidate.cohort_id == cohort.id, Candidate.status.in_(TAKES_A_PLACE))
        .order_by(Candidate.name, Candidate.id)
    )


@dataclass(frozen=True)
class RosterFacts:
    notice_at: datetime | None  # when they reached the training notice's stage
    open_flags: int
    ticked: int  # checklist items that apply to them, ticked
    store: str | None

    def saw_notice(self, last_seen_at: datetime | None) -> bool | None:
        """Visited after the notice (None: it was never given)."""
        if self.notice_at is None:
            return None
        return last_seen_at is not None and last_seen_at >= self.notice_at


def roster_facts(cohort: Cohort, candidate_ids: list[int]) -> dict[int, RosterFacts]:
    """For a page of members: the training notice's time, open flags, checklist items ticked, store."""
    notice_stage = sa.select(Stage.id).where(Stage.key == TRAINING_NOTICE_KEY).scalar_subquery()
    notice_at = (
        sa.select(sa.func.min(StageEvent.reached_at))
        .where(StageEvent.candidate_id == Candidate.id, StageEvent.stage_id == notice_stage)
        .scalar_subquery()
    )
    open_flags = (
        sa.select(sa.func.count(Flag.id))
        .where(Flag.candidate_id == Candidate.id, Flag.resolved_at.is_(None))
        .scalar_subquery()
    )
    ticked = (
        sa.select(sa.func.count())
        .select_from(ChecklistCompletion)
        .join(ChecklistItem, ChecklistItem.id == ChecklistCompletion.item_id)
        .where(ChecklistCompletion.candidate_id == Candidate.id, ChecklistItem.applies_to(cohort.id))
        .scalar_subquery()
    )
    rows = db.session.execute(
        sa.select(Candidate.id, notice_at, open_flags, ticked, Store.name)
        .outerjoin(Store, Store.id == Candidate.store_id)
        .where(Candidate.id.in_(candidate_ids))
    )
    return {id_: RosterFacts(notice, flags or 0, done or 0, store) for id_, notice, flags, done, store in rows}


def checklist_total(cohort_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count(ChecklistItem.id)).where(ChecklistItem.applies_to(cohort_id))) or 0
