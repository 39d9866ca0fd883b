"""The risk scan: rules over all active candidates that raise, escalate and close flags.

Each rule is one set-based SELECT of the candidates its condition holds for, with a severity,
the time the reason is about (``evidence_at``) and when the current episode began. It runs once,
into a temporary table; one generic piece of code then turns that table into three statements per
rule: close open flags whose condition no longer holds, escalate open warnings, and raise new
flags (bulk INSERT ... SELECT ... ON CONFLICT DO NOTHING against the partial unique index of open
flags). Adding a rule is adding one ``Rule``. Nothing here loops over candidates in Python.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Candidate, Cohort, CohortSession, Flag, Stage, ThreadMessage
from portal.models.base import UTCDateTime, rows_affected, table_of
from portal.models.candidates import Status
from portal.models.cohorts import CohortStatus
from portal.models.flags import Outcome, Severity, TaskRule
from portal.models.pipeline import Side
from portal.models.planner import usually
from portal.models.threads import REQUESTS, AskState, Topic
from portal.services import dialect_insert, savepoint
from portal.services.worktime import WorkCalendar

log = logging.getLogger(__name__)

candidate, stage, cohort, flag = table_of(Candidate), table_of(Stage), table_of(Cohort), table_of(Flag)
session_table, thread = table_of(CohortSession), table_of(ThreadMessage)

TRAINING_NOTICE_KEY = "training_notice"


def _rank(severity):
    """Severities compared in SQL: an urgent flag outranks a warning."""
    return sa.case((severity == Severity.URGENT, 2), else_=1)


@dataclass(frozen=True)
class Rule:
    """One risk rule: its key, how HR read it, and the SELECT that finds who it holds for."""

    name: str
    # How HR name the rule (filters, the candidates list).
    label: Any
    # English one-liner kept in flag.reason for exports and logs.
    summary: str
    # (now, config) -> SELECT candidate_id, severity, evidence_at, episode_start; one row per candidate
    # (a second row for the same candidate makes the rule fail, reported like any other failure).
    matches: Callable[[datetime, dict], sa.Select]
    # (facts about one flag, see hr.wording.flag_reason) -> the reason as HR read it on a page, in their language.
    describe: Callable[[dict], str]
    # Whose turn it is: a step on the company's side that is late, not something the candidate did or did not do.
    our_side: bool = False
    # A task (models.flags.TASK_RULES): the candidate waits for HR's answer. Its flag follows the oldest thing
    # still waiting (_sync_tasks) and never moves the risk tier.
    task: bool = False


def _active():
    return candidate.c.status == Status.ACTIVE


def _link_not_opened(now, config):
    # link_issued_at is the newest unrevoked link's issue time (services.links keeps it). The last
    # condition is ix_candidate_link_unopened's. SQLite would rather walk the status index through
    # every active candidate (4.3 s at a million instead of 0.1 s) unless told that status is no filter.
    return sa.select(
        candidate.c.id.label("candidate_id"),
        sa.literal(Severity.WARNING.value).label("severity"),
        candidate.c.link_issued_at.label("evidence_at"),
        candidate.c.link_issued_at.label("episode_start"),
    ).where(
        usually(_active()),
        candidate.c.link_issued_at < now - timedelta(hours=config["RULE_LINK_NOT_OPENED_HOURS"]),
        sa.or_(candidate.c.last_seen_at.is_(None), candidate.c.last_seen_at < candidate.c.link_issued_at),
    )


def _gone_quiet(now, config):
    # Quiet counts from the later of the last visit and the last contact in which HR reached them
    # (services.contacts). Someone who never visited is the link rule's, not this one's. The first
    # condition is ix_candidate_status_last_seen's; the second only thins what it finds.
    warning_before = now - timedelta(days=config["RULE_QUIET_WARNING_DAYS"])
    urgent_before = now - timedelta(days=config["RULE_QUIET_URGENT_DAYS"])
    last_heard = sa.case(
        (candidate.c.last_reached_at > candidate.c.last_seen_at, candidate.c.last_reached_at),
        else_=candidate.c.last_seen_at,
    )
    return sa.select(
        candidate.c.id.label("candidate_id"),
        sa.case((last_heard < urgent_before, Severity.URGENT.value), else_=Severity.WARNING.value).label("severity"),
        last_heard.label("evidence_at"),
        last_heard.label("episode_start"),
    ).where(
        _active(),
        candidate.c.last_seen_at < warning_before,
        sa.or_(candidate.c.last_reached_at.is_(None), candidate.c.last_reached_at < warning_before),
    )


def _cohorts_starting_soon(now, config) -> list[int]:
    """Cohorts whose first session (without sessions: their first day, 00:00 local) begins in the next N hours.

    Cohorts are few, so their ids become bound parameters, as the overdue stages' deadlines do.
    """
    zone = ZoneInfo(config["TIMEZONE"])
    until = now + timedelta(hours=config["RULE_TRAINING_NOTICE_HOURS"])
    first_session = (
        sa.select(sa.func.min(session_table.c.starts_at))
        .where(session_table.c.cohort_id == cohort.c.id, session_table.c.removed_at.is_(None))
        .scalar_subquery()
    )
    cohorts = db.session.execute(
        sa.select(cohort.c.id, cohort.c.starts_on, first_session).where(
            cohort.c.starts_on >= now.astimezone(zone).date() - timedelta(days=1),
            cohort.c.starts_on <= until.astimezone(zone).date() + timedelta(days=1),
            cohort.c.status == CohortStatus.OPEN,
        )
    )
    return [
        cohort_id
        for cohort_id, starts_on, first in cohorts
        if now <= (first or datetime.combine(starts_on, time(0), tzinfo=zone)) <= until
    ]


def _training_notice_not_seen(now, config):
    return (
        sa.select(
            candidate.c.id.label("candidate_id"),
            sa.literal(Severity.URGENT.value).label("severity"),
            candidate.c.stage_reached_at.label("evidence_at"),
            candidate.c.stage_reached_at.label("episode_start"),
        )
        .join(stage, stage.c.id == candidate.c.current_stage_id)
        .where(
            _active(),
            stage.c.key == TRAINING_NOTICE_KEY,
            # ix_candidate_stage_unseen's condition: only candidates who have not visited since their stage changed.
            sa.or_(candidate.c.last_seen_at.is_(None), candidate.c.last_seen_at < candidate.c.stage_reached_at),
            candidate.c.cohort_id.in_(_cohorts_starting_soon(now, config)),
        )
    )


def _attendance_not_confirmed(now, config):
    """Members of a cohort that starts within N days (urgent with M working days left, the work calendar's) who
    have not said they will come. Cohorts
    are few: each one's window opening becomes a bound parameter, and the episode starts there (a move to
    another cohort is a new episode)."""
    zone = ZoneInfo(config["TIMEZONE"])
    today = now.astimezone(zone).date()
    days, urgent_days = config["RULE_ATTENDANCE_DAYS"], config["RULE_ATTENDANCE_URGENT_DAYS"]
    soon = db.session.execute(
        sa.select(cohort.c.id, cohort.c.starts_on).where(
            cohort.c.starts_on > today,
            cohort.c.starts_on <= today + timedelta(days=days),
            cohort.c.status == CohortStatus.OPEN,
        )
    ).all()
    whens = {
        cohort_id: sa.literal(datetime.combine(starts_on - timedelta(days=days), time(0), tzinfo=zone), UTCDateTime())
        for cohort_id, starts_on in soon
    }
    opened = sa.case(whens, value=candidate.c.cohort_id) if whens else sa.cast(sa.null(), UTCDateTime())
    calendar = WorkCalendar(now) if soon else None

    def working_days_left(starts_on: date) -> int:  # today included: HR can still call them today
        assert calendar is not None
        return sum(calendar.is_working_day(today + timedelta(days=n)) for n in range((starts_on - today).days))

    urgent = [cohort_id for cohort_id, starts_on in soon if working_days_left(starts_on) <= urgent_days]
    return sa.select(
        candidate.c.id.label("candidate_id"),
        sa.case((candidate.c.cohort_id.in_(urgent), Severity.URGENT.value), else_=Severity.WARNING.value).label(
            "severity"
        ),
        opened.label("evidence_at"),
        opened.label("episode_start"),
    ).where(
        _active(),
        candidate.c.cohort_id.in_([cohort_id for cohort_id, _ in soon]),
        candidate.c.attendance_confirmed_at.is_(None),
    )


def _company_side_overdue(now, config):
    # Company-side stages are few: each one's deadline becomes a bound parameter, so the SQL needs
    # no per-row date arithmetic (which SQLite and PostgreSQL spell differently).
    overdue = [
        sa.and_(candidate.c.current_stage_id == stage_id, candidate.c.stage_reached_at < now - timedelta(days=days))
        for stage_id, days in db.session.execute(
            sa.select(stage.c.id, stage.c.expected_days).where(
                stage.c.side == Side.COMPANY, stage.c.expected_days.is_not(None)
            )
        )
    ]
    return sa.select(
        candidate.c.id.label("candidate_id"),
        sa.literal(Severity.WARNING.value).label("severity"),
        candidate.c.stage_reached_at.label("evidence_at"),
        candidate.c.stage_reached_at.label("episode_start"),
    ).where(_active(), sa.or_(sa.false(), *overdue))


def _waiting_for_us(*topics: str):
    """Candidates with a question or request (``topics``) HR have not answered: the oldest one's time is the
    evidence, urgent once it waited TASK_URGENT_WORKING_HOURS of working time by the work calendar (a Friday
    evening question is not late on Saturday). Overdue (TASK_OVERDUE_HOURS): _sync_tasks."""

    def matches(now, config):
        anything = sa.select(thread.c.id).where(thread.c.state == AskState.WAITING, thread.c.topic.in_(topics)).limit(1)
        urgent_from = now  # nothing waits: the calendar need not be read
        if db.session.execute(anything).first() is not None:
            hours = timedelta(hours=config["TASK_URGENT_WORKING_HOURS"])
            urgent_from = WorkCalendar(now).working_time_before(now, hours)
        waiting = (
            sa.select(thread.c.candidate_id, sa.func.min(thread.c.written_at).label("asked_at"))
            .where(thread.c.state == AskState.WAITING, thread.c.topic.in_(topics))
            .group_by(thread.c.candidate_id)
            .subquery("waiting")
        )
        return (
            sa.select(
                candidate.c.id.label("candidate_id"),
                sa.case(
                    (waiting.c.asked_at <= sa.literal(urgent_from, UTCDateTime()), Severity.URGENT.value),
                    else_=Severity.WARNING.value,
                ).label("severity"),
                waiting.c.asked_at.label("evidence_at"),
                waiting.c.asked_at.label("episode_start"),
            )
            .join(waiting, waiting.c.candidate_id == candidate.c.id)
            .where(_active())
        )

    return matches


def _our_step_reason(facts: dict) -> str:
    if facts["stage_side"] != Side.COMPANY:
        return _("Our step was overdue; the candidate has moved on since (clears at the next scan)")
    return _('Our step "%(stage)s" started %(when)s and is past its expected duration', **facts)


RULES = (
    Rule(
        "link_not_opened",
        _l("Link not opened"),
        "Link not opened since it was sent",
        _link_not_opened,
        lambda facts: _("Link sent %(when)s has not been opened", **facts),
    ),
    Rule(
        "gone_quiet",
        _l("Gone quiet"),
        "No visit or reached contact for several days",
        _gone_quiet,
        lambda facts: _("Not heard from for %(days)s days: no visit or reached contact since %(when)s", **facts),
    ),
    Rule(
        "training_notice_not_seen",
        _l("Training notice not seen"),
        "Training notice not seen and training starts soon",
        _training_notice_not_seen,
        lambda facts: _("Training notice of %(when)s not seen; training starts %(date)s", **facts),
    ),
    Rule(
        "attendance_not_confirmed",
        _l("Attendance not confirmed"),
        "Has not confirmed they will come, and training starts soon",
        _attendance_not_confirmed,
        lambda facts: _("Has not confirmed they will come; training starts %(date)s", **facts),
    ),
    Rule(
        "company_side_overdue",
        _l("Our step overdue"),
        "A step on our side is overdue",
        _company_side_overdue,
        _our_step_reason,
        our_side=True,
    ),
    Rule(
        TaskRule.QUESTION,
        _l("Question waiting"),
        "Asked HR a question that is not answered yet",
        _waiting_for_us(Topic.QUESTION),
        lambda facts: _("Asked a question %(when)s: waiting %(waited)s of working time", **facts),
        our_side=True,
        task=True,
    ),
    Rule(
        TaskRule.REQUEST,
        _l("Request waiting"),
        "Asked for another date or a nearer store, not answered yet",
        _waiting_for_us(*REQUESTS),
        lambda facts: _("Asked %(when)s for another date or store: waiting %(waited)s of working time", **facts),
        our_side=True,
        task=True,
    ),
)
RULES_BY_NAME = {rule.name: rule for rule in RULES}


@dataclass
class RuleResult:
    raised: int = 0
    escalated: int = 0
    closed: int = 0
    error: str | None = None


@dataclass
class ScanResult:
    now: datetime
    dry_run: bool
    rules: dict = field(default_factory=dict)  # rule name -> RuleResult

    @property
    def failed(self) -> list[str]:
        return [name for name, result in self.rules.items() if result.error]


# Scratch tables, private to the connection and to one rule: its matches, computed once, and of those
# the ones to raise. Holding one rule's rows only, their size is their row count, which is what the
# planner needs (no ANALYZE); and deciding what to raise before inserting keeps the flag table still
# while it is probed (PostgreSQL, believing it empty, once re-read it per row as it grew: 10 s).
def _scratch_table(name: str, *extra: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("candidate_id", sa.Integer, primary_key=True),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("evidence_at", UTCDateTime()),
        *extra,
        prefixes=["TEMPORARY"],
    )


matched = _scratch_table("scan_match", sa.Column("episode_start", UTCDateTime()))
to_raise = _scratch_table("scan_raise")
SCRATCH_TABLES = (matched, to_raise)


def _open(rule_name):
    return sa.and_(flag.c.rule == rule_name, flag.c.resolved_at.is_(None))


def _matched_for_flag(*conditions):
    return sa.exists().where(matched.c.candidate_id == flag.c.candidate_id, *conditions)


def _raisable(rule: Rule) -> sa.Select:
    """Matches without an open flag, unless HR resolved this rule in the same episode at that severity or above."""
    resolved = flag.alias("resolved")
    open_flag = flag.alias("open_flag")
    return sa.select(matched.c.candidate_id, matched.c.severity, matched.c.evidence_at).where(
        ~sa.exists().where(
            open_flag.c.rule == rule.name,
            open_flag.c.candidate_id == matched.c.candidate_id,
            open_flag.c.resolved_at.is_(None),
        ),
        ~sa.exists().where(
            resolved.c.candidate_id == matched.c.candidate_id,
            resolved.c.rule == rule.name,
            resolved.c.outcome != Outcome.CLEARED,
            resolved.c.resolved_at >= matched.c.episode_start,
            _rank(resolved.c.severity) >= _rank(matched.c.severity),
        ),
    )


def _escalation_filter(rule: Rule):
    return sa.and_(
        _open(rule.name), flag.c.severity == Severity.WARNING, _matched_for_flag(matched.c.severity == Severity.URGENT)
    )


def _sync_tasks(rule: Rule, now: datetime, config: dict) -> int:
    """A task's flag follows the oldest question or request still waiting (one answered, the next one shows):
    its time, urgent or not, and overdue once it waited TASK_OVERDUE_HOURS (the second escalation, first in
    the queue). How many flags changed."""

    def of_match(column):
        return sa.select(column).where(matched.c.candidate_id == flag.c.candidate_id).scalar_subquery()

    asked_at, severity = of_match(matched.c.evidence_at), of_match(matched.c.severity)
    overdue = asked_at <= sa.literal(now - timedelta(hours=config["TASK_OVERDUE_HOURS"]), UTCDateTime())
    at_now = sa.literal(now, UTCDateTime())
    unchanged = sa.and_(
        flag.c.evidence_at == asked_at,
        flag.c.severity == severity,
        sa.case((flag.c.overdue_since.is_not(None), 1), else_=0) == sa.case((overdue, 1), else_=0),
    )
    statement = (
        sa.update(flag)
        .where(_open(rule.name), _matched_for_flag(), ~unchanged)
        .values(
            evidence_at=asked_at,
            severity=severity,
            urgent_since=sa.case(
                (severity == Severity.URGENT, sa.func.coalesce(flag.c.urgent_since, at_now)), else_=sa.null()
            ),
            overdue_since=sa.case((overdue, sa.func.coalesce(flag.c.overdue_since, at_now)), else_=sa.null()),
        )
    )
    return rows_affected(db.session.execute(statement))


def _closing_filter(rule: Rule, only: Sequence[int] | None):
    closing = sa.and_(_open(rule.name), ~_matched_for_flag())
    return closing if only is None else sa.and_(closing, flag.c.candidate_id.in_(only))


def _insert_flags(rule: Rule, now: datetime) -> int:
    """Raise a flag for every row of ``scan_raise``."""
    at_now = sa.literal(now, type_=Flag.raised_at.type)
    source = sa.select(
        to_raise.c.candidate_id,
        sa.literal(rule.name),
        to_raise.c.severity,
        sa.literal(rule.summary),
        to_raise.c.evidence_at,
        at_now,
        sa.case((to_raise.c.severity == Severity.URGENT, at_now), else_=sa.null()),
    )
    # SQLite reads "INSERT ... SELECT ... ON CONFLICT" as a join unless the SELECT has a WHERE.
    source = source.where(sa.true())
    statement = (
        dialect_insert(flag)
        .from_select(["candidate_id", "rule", "severity", "reason", "evidence_at", "raised_at", "urgent_since"], source)
        # A concurrent scan may have raised the same flag a moment ago: the partial unique index decides.
        .on_conflict_do_nothing(index_elements=["rule", "candidate_id"], index_where=flag.c.resolved_at.is_(None))
    )
    # psycopg 3 forgets an INSERT's rowcount once the cursor closes (sqlalchemy#10696): keep it.
    return rows_affected(db.session.execute(statement.execution_options(preserve_rowcount=True)))


def _collect_matches(rule: Rule, now: datetime, config: dict, only: Sequence[int] | None) -> None:
    matches = rule.matches(now, config)
    if only is not None:
        matches = matches.where(candidate.c.id.in_(only))
    found = matches.subquery("found")
    db.session.execute(
        sa.insert(matched).from_select(
            ["candidate_id", "severity", "evidence_at", "episode_start"],
            sa.select(found.c.candidate_id, found.c.severity, found.c.evidence_at, found.c.episode_start),
        )
    )


def _nothing_to_do(rule: Rule, now: datetime, config: dict, only: Sequence[int]) -> bool:
    """For a few candidates (a rescan): the rule holds for none of them and none has its flag open, so there
    is nothing to raise, escalate or close. One statement instead of the scratch tables' dozen (a rescan
    follows every stage move, placement and answer)."""
    matches = rule.matches(now, config).where(candidate.c.id.in_(only))
    flagged = sa.select(flag.c.id).where(_open(rule.name), flag.c.candidate_id.in_(only))
    return not db.session.scalar(sa.select(sa.or_(matches.exists(), flagged.exists())))


def _apply(rule: Rule, now: datetime, config: dict, dry_run: bool, only: Sequence[int] | None) -> RuleResult:
    if only is not None and _nothing_to_do(rule, now, config, only):
        return RuleResult()
    connection = db.session.connection()
    for table in SCRATCH_TABLES:
        table.create(connection)
    _collect_matches(rule, now, config, only)
    escalation, closing = _escalation_filter(rule), _closing_filter(rule, only)
    if dry_run:

        def count(query: sa.Select) -> int:
            return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0

        result = RuleResult(
            raised=count(_raisable(rule)),
            escalated=count(sa.select(flag.c.id).where(escalation)),
            closed=count(sa.select(flag.c.id).where(closing)),
        )
    else:
        # Close and escalate before raising, so that a flag raised now is not touched again in this scan.
        closed = rows_affected(
            db.session.execute(sa.update(flag).where(closing).values(resolved_at=now, outcome=Outcome.CLEARED))
        )
        if rule.task:
            escalated = _sync_tasks(rule, now, config)
        else:
            escalated = rows_affected(
                db.session.execute(sa.update(flag).where(escalation).values(severity=Severity.URGENT, urgent_since=now))
            )
        db.session.execute(
            sa.insert(to_raise).from_select(["candidate_id", "severity", "evidence_at"], _raisable(rule))
        )
        result = RuleResult(raised=_insert_flags(rule, now), escalated=escalated, closed=closed)
    for table in SCRATCH_TABLES:
        table.drop(connection)
    return result


# Any constant will do: it names "the scan" among PostgreSQL's advisory locks.
SCAN_LOCK_KEY = 7_245_001


def _one_scan_at_a_time() -> None:
    """Concurrent scans queue up instead of racing; the later one then finds nothing left to do.

    Must be the transaction's first statement. PostgreSQL: an advisory lock held until commit.
    SQLite: take the write lock before reading anything, since a WAL read snapshot that another
    writer overtook can never be upgraded to a write ("database is locked", without waiting).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCAN_LOCK_KEY})
        # The last scan may have added or closed many flags since autovacuum last looked: give the
        # planner the table as it is now (a sample, milliseconds), or it may pick nested loops.
        db.session.execute(sa.text("ANALYZE flag"))
    else:
        db.session.execute(sa.text("PRAGMA busy_timeout = 300000"))  # a long scan ahead may take minutes
        db.session.execute(sa.update(flag).where(sa.false()).values(rule=flag.c.rule))


def run_scan(
    now: datetime,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    only: Sequence[int] | None = None,
) -> ScanResult:
    """Evaluate every rule; a rule that fails is rolled back and reported, the others still run.

    Call at the start of a transaction; the caller commits. ``progress(done_rules, total_rules,
    rule_name)`` is called after each rule, failed or not. ``only`` limits the scan to these
    candidates (rescan_candidate): their flags are raised, escalated and closed, nobody else's.
    """
    config = current_app.config
    result = ScanResult(now=now, dry_run=dry_run)
    if not dry_run and only is None:
        _one_scan_at_a_time()
    for done, rule in enumerate(RULES, start=1):
        rule_savepoint = savepoint()
        try:
            result.rules[rule.name] = _apply(rule, now, config, dry_run, only)
            rule_savepoint.commit()
        except Exception as error:
            rule_savepoint.rollback()
            log.exception("risk rule %s failed", rule.name)
            result.rules[rule.name] = RuleResult(error=f"{type(error).__name__}: {error}")
        if progress is not None:
            progress(done, len(RULES), rule.name)
    return result


def rescan_candidate(candidate_id: int, now: datetime) -> ScanResult:
    """The scan's rules for one candidate, at once: after HR changed something the rules read."""
    return run_scan(now, only=[candidate_id])
