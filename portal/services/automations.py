"""Automations: the messages Keepwarm sends by itself.

A trigger decides when (models.automations.Trigger), the audience rule who (services.audience), the templates
what. Event triggers (a stage entered, a move to another cohort) write their message in the transaction of the
event; the time-based ones are found by ``evaluate``, a periodic job, with one set-based INSERT … SELECT per
automation and moment, as the scan does. Every message is an outbox row, once per cause (its idempotency key);
it is written from the automation's templates when it is sent (``prepare``), so the INSERT renders nothing.

Respect, at queue time and again at send time: someone who stopped automated messages gets only essential
ones; at most AUTOMATION_WEEKLY_CAP non-essential messages reach a candidate in 7 days (HR's own count, and
are never held back); a switched-off automation sends nothing more. Switching one on never back-fills: only
moments after that count (``evaluated_until``).
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from babel.dates import format_date
from flask import current_app
from flask_babel import lazy_gettext as _l
from jinja2 import StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from portal.extensions import db
from portal.i18n import localized
from portal.models import (
    Automation,
    Candidate,
    ChecklistCompletion,
    ChecklistItem,
    Cohort,
    PortalLink,
    Stage,
    Story,
    User,
)
from portal.models.automations import EVENT_TRIGGERS, Trigger
from portal.models.base import rows_affected
from portal.models.engagement import EngagementEvent, EventKind
from portal.models.outbox import LINK_PLACEHOLDER, MessageKind, MessageStatus, Outbox
from portal.services import dialect_insert, expire_loaded, savepoint
from portal.services.audience import Audience
from portal.services.audit import record_audit, record_on_candidate
from portal.services.outbox import ESSENTIAL_KINDS, message_locale
from portal.services.worktime import WorkCalendar, organisation_date, organisation_zone

log = logging.getLogger(__name__)

# The kinds an automation may send: an ordinary one, or one a candidate must hear (it then reaches those who
# stopped messages, any day but never at night, and does not count toward the weekly cap).
AUTOMATION_KINDS = (MessageKind.AUTOMATED, MessageKind.OFFER_DECISION, MessageKind.TRAINING_CHANGE)
# A moment older than this is not acted on: after the worker was down a day, no stale "see you tomorrow".
CATCH_UP = timedelta(hours=6)
# The variables a template may use, with what they hold (the admin page lists them).
VARIABLES = {
    "name": _l("the candidate's name"),
    "stage": _l("the stage they are at"),
    "cohort_name": _l("their training cohort"),
    "cohort_start": _l("its first day"),
    "cohort_end": _l("its last day"),
    "cohort_place": _l("where the training is"),
    "cohort_address": _l("its address"),
    "bring": _l("what to bring"),
    "portal_link": _l("their page's link (each message gets its own)"),
    "hr_contact": _l("their HR contact's name"),
    "hr_phone": _l("their HR contact's phone, or the HR hotline"),
    "story_title": _l("the story's title (weekly story)"),
    "story_summary": _l("the story's summary"),
    "open_items": _l("required checklist items still open, one a line"),
}
DROPPED_STOPPED = "they stopped automated messages"
DROPPED_CAP = "weekly cap reached"
DROPPED_OFF = "the automation was switched off"
DROPPED_DELETED = "the automation was deleted"
DROPPED_MOVED = "moved to another cohort"
DROPPED_NOTHING_OPEN = "nothing left open on the checklist"
DROPPED_NO_STORY = "the story is no longer published"
NOT_IN_AUDIENCE = "they are not in its audience"  # the preview's, never a message's


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox (no attribute tricks), and no ``*`` or ``**`` either: ``'x' * 10**8`` would fill memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        raise SecurityError(f"{operator} is not allowed in a message template")


_environment = _Sandbox(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False)
BODY_MAX = 5000
DELAY_MAX_DAYS = OFFSET_MAX_DAYS = 90


class AutomationError(ValueError):
    """An automation that cannot be saved as given; the message says why, and nothing changed."""


# ----------------------------------------------------------------------------------------------------------
# Queueing: events, then the periodic evaluator
# ----------------------------------------------------------------------------------------------------------


def _essential(automation: Automation) -> bool:
    return automation.kind in ESSENTIAL_KINDS


def _any_day(automation: Automation) -> bool:
    """Its window: any day but never at night (essential ones, and those an admin marked so), or working hours."""
    return _essential(automation) or automation.any_day


def _row_values(automation: Automation, now: datetime, due_at: datetime) -> dict[str, Any]:
    """An automation's outbox row, less what differs per candidate (written by ``prepare`` when it goes)."""
    essential = _essential(automation)
    return {
        "kind": automation.kind,
        "essential": essential,
        "urgent": automation.any_day,
        "priority": 0 if essential else 1,
        "channels": automation.channels,
        "subject": "",
        "body": "",
        "sms_template": "",
        "status": MessageStatus.QUEUED,
        "attempts": 0,
        "due_at": due_at,
        "created_at": now,
        "reason": "",
        "automation_id": automation.id,
    }


def _insert_for(automation: Automation, chosen: sa.Select, now: datetime, due_at: datetime, suffix: str | None) -> int:
    """One INSERT … SELECT of ``chosen`` (candidate_id and locale; optionally cohort_id, story_id, and a
    key_suffix of its own), once per key "auto:{automation}:{candidate}[:{suffix}]": a second run, or a
    second evaluator at the same moment, adds nothing. A chosen story_id that is NULL (none left) adds no row."""
    # OFFSET 0 keeps "picked" a subquery of its own: flattened into the candidate query, the story's correlated
    # subquery ran twice per candidate, once for the WHERE below and once for the value (bench/automations.py).
    picked = chosen.offset(0).subquery("picked")
    key = sa.literal(f"auto:{automation.id}:") + sa.cast(picked.c.candidate_id, sa.String)
    if "key_suffix" in picked.c:
        key = key + sa.literal(":") + picked.c.key_suffix
    elif suffix is not None:
        key = key + sa.literal(f":{suffix}")
    columns = {
        "idempotency_key": key,
        "candidate_id": picked.c.candidate_id,
        "locale": picked.c.locale,
        "cohort_id": picked.c.cohort_id if "cohort_id" in picked.c else sa.null(),
        "story_id": picked.c.story_id if "story_id" in picked.c else sa.null(),
        "sms_params": sa.literal({}, type_=Outbox.__table__.c.sms_params.type),
        **{
            name: sa.literal(value, type_=Outbox.__table__.c[name].type)
            for name, value in _row_values(automation, now, due_at).items()
        },
    }
    # WHERE true: SQLite reads "ON CONFLICT" after a SELECT without WHERE as part of a join.
    select = sa.select(*(expression.label(name) for name, expression in columns.items())).where(sa.true())
    if "story_id" in picked.c:
        select = select.where(picked.c.story_id.is_not(None))
    result = db.session.execute(
        dialect_insert(Outbox)
        .from_select(list(columns), select)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .execution_options(preserve_rowcount=True)
    )
    return rows_affected(result)


def _audience_of(automation: Automation, now: datetime) -> sa.ColumnElement[bool]:
    """Who may get it now: the audience rule's active candidates, less those who stopped ordinary messages."""
    condition = Audience.from_dict(automation.audience).condition(now)
    if not _essential(automation):
        condition = sa.and_(condition, Candidate.messages_stopped_at.is_(None))
    return condition


def _locale_column():
    return sa.func.coalesce(Candidate.locale, current_app.config["BABEL_DEFAULT_LOCALE"]).label("locale")


def _about_their_cohort() -> sa.Select:
    """Candidates as ``_insert_for`` takes them, for a message about their cohort (a move drops it)."""
    return sa.select(Candidate.id.label("candidate_id"), _locale_column(), Candidate.cohort_id.label("cohort_id"))


def queue_stage_entered(candidate_ids: list[int], *, now: datetime, joined: bool = False) -> int:
    """The messages of "entering a stage" automations for these candidates, who just reached their current
    stage (a move; ``joined``: added or imported there, which counts as having entered the stages before it
    too, so someone added after the interview still gets the welcome), in the event's transaction: due their
    delay after they reached it, in its window. Not when they reached it before the automation was switched
    on, nor when that moment is long past (someone added at a stage reached last week gets no "welcome")."""
    if not candidate_ids:
        return 0
    queued = 0
    calendar = WorkCalendar(now)
    for automation in _enabled(Trigger.STAGE_ENTERED):
        if automation.stage_id is None or automation.evaluated_until is None:
            continue
        delay = timedelta(minutes=automation.delay_minutes)
        reached_since = max(automation.evaluated_until, now - CATCH_UP - delay)
        in_stage: sa.ColumnElement[bool]
        if joined:
            at_or_after = sa.select(Stage.id).where(Stage.position >= automation.stage.position)
            in_stage = Candidate.current_stage_id.in_(at_or_after)
        else:
            in_stage = Candidate.current_stage_id == automation.stage_id
        rows = db.session.execute(
            sa.select(Candidate.id, Candidate.stage_reached_at).where(
                Candidate.id.in_(candidate_ids),
                in_stage,
                Candidate.stage_reached_at >= reached_since,
                _audience_of(automation, now),
            )
        ).all()
        # Due times differ per candidate (their reaching time), so one INSERT a distinct due time.
        by_due: dict[datetime, list[int]] = {}
        for candidate_id, reached_at in rows:
            moment = max(reached_at + delay, now) if reached_at is not None else now
            due = calendar.send_at(moment, essential=_any_day(automation)).at
            by_due.setdefault(due, []).append(candidate_id)
        for due, ids in by_due.items():
            chosen = sa.select(Candidate.id.label("candidate_id"), _locale_column()).where(Candidate.id.in_(ids))
            queued += _insert_for(automation, chosen, now, due, suffix=None)
    return queued


def cohort_moved(candidate: Candidate, old_cohort_id: int | None, *, now: datetime) -> None:
    """The candidate left cohort ``old_cohort_id`` for their current one: what still waits for them about
    the old one (its countdown, its checklist) is dropped, and "moved" automations tell them (essential ones
    even if they stopped messages). The new cohort's moments come as the evaluator reaches them."""
    if old_cohort_id is None or old_cohort_id == candidate.cohort_id:
        return
    drop_queued_about(old_cohort_id, [candidate.id], DROPPED_MOVED)
    if candidate.cohort_id is None:
        return
    calendar = WorkCalendar(now)
    _new_cohort_so_far(candidate, now, calendar)
    for automation in _enabled(Trigger.COHORT_MOVED):
        due = calendar.send_at(now, essential=_any_day(automation)).at
        chosen = _about_their_cohort().where(Candidate.id == candidate.id, _audience_of(automation, now))
        _insert_for(
            automation, chosen, now, due, suffix=f"moved:{old_cohort_id}:{candidate.cohort_id}:{now:%Y%m%d%H%M%S}"
        )


def drop_queued_about(cohort_id: int, candidate_ids: list[int], reason: str) -> None:
    """Messages still waiting for these candidates about ``cohort_id`` (its countdown, its checklist, an earlier
    change's news) are dropped with ``reason``, giving up their keys: the same moments can be queued again (moved
    back later, or for the cohort's new dates)."""
    if not candidate_ids:
        return
    db.session.execute(
        sa.update(Outbox)
        .where(
            Outbox.cohort_id == cohort_id,
            Outbox.candidate_id.in_(candidate_ids),
            Outbox.status == MessageStatus.QUEUED,
        )
        .values(
            status=MessageStatus.DROPPED,
            reason=reason,
            idempotency_key=Outbox.idempotency_key + sa.literal(":dropped:") + sa.cast(Outbox.id, sa.String),
        )
        .execution_options(synchronize_session=False)
    )


def _new_cohort_so_far(candidate: Candidate, now: datetime, calendar: WorkCalendar) -> None:
    """Moved into a cohort whose moments already passed (its week-before countdown, a checklist due day) while it
    has not started: those messages now, as its other members had them (the same keys: never twice)."""
    cohort = db.session.get_one(Cohort, candidate.cohort_id)
    if _local(cohort.starts_on, "00:00") <= now:
        return
    chosen = _about_their_cohort().where(Candidate.id == candidate.id)
    for automation in _enabled(Trigger.COHORT_START):
        if _local(cohort.starts_on + timedelta(days=automation.offset_days), automation.at_time) <= now:
            audience = chosen.where(_audience_of(automation, now))
            _insert_for(automation, audience, now, _due(calendar, automation, now), suffix=f"c{cohort.id}")
    for automation in _enabled(Trigger.CHECKLIST_DUE):
        for due_days in _due_days_values():
            day = cohort.starts_on - timedelta(days=due_days)
            if _local(day, automation.at_time) <= now:
                audience = chosen.where(
                    _audience_of(automation, now),
                    _open_required_items(Candidate.id, Candidate.cohort_id, due_days).exists(),
                )
                due = _due(calendar, automation, now)
                _insert_for(automation, audience, now, due, suffix=f"c{cohort.id}:{day.isoformat()}")


def _enabled(*triggers: Trigger) -> list[Automation]:
    return list(
        db.session.scalars(
            sa.select(Automation)
            .where(Automation.enabled, Automation.trigger.in_([str(t) for t in triggers]))
            .order_by(Automation.id)
        )
    )


@dataclass
class Evaluation:
    """What one run of the evaluator queued, by automation name."""

    queued: dict[str, int]
    failed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.queued.values())


def evaluate(now: datetime) -> Evaluation:
    """Queue the messages of every time-based automation whose moments fell since its last evaluation (at
    most CATCH_UP ago, never before it was switched on), set-based: one statement per automation and moment."""
    done = Evaluation({})
    calendar = WorkCalendar(now - CATCH_UP)
    for automation in _enabled(*(set(Trigger) - EVENT_TRIGGERS)):
        since = max(automation.evaluated_until or now, now - CATCH_UP)
        if since < now:
            evaluator = EVALUATORS[Trigger(automation.trigger)]
            try:
                with savepoint():  # one automation that fails (logged, tried again next pass) stops no other
                    done.queued[automation.name] = evaluator(automation, since, now, calendar)
            except sa.exc.SQLAlchemyError:
                log.exception("automation %s (%s) failed; the next pass tries again", automation.id, automation.name)
                done.failed.append(automation.name)
                continue
        automation.evaluated_until = now
    db.session.flush()
    return done


def _due(calendar: WorkCalendar, automation: Automation, moment: datetime) -> datetime:
    """When a message whose moment came at ``moment`` may go: then, or when its window opens."""
    return calendar.send_at(moment, essential=_any_day(automation)).at


def _local(day: date, clock: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock or "09:00"), tzinfo=organisation_zone()).astimezone(UTC)


def _days_between(since: datetime, now: datetime, pad: int = 0) -> list[date]:
    first, last = organisation_date(since) - timedelta(days=pad), organisation_date(now) + timedelta(days=pad)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _weekly(automation: Automation, since: datetime, now: datetime, calendar: WorkCalendar) -> int:
    queued = 0
    for day in _days_between(since, now):
        moment = _local(day, automation.at_time)
        if day.isoweekday() != automation.weekday or not since < moment <= now:
            continue
        columns = [Candidate.id.label("candidate_id"), _locale_column()]
        if automation.with_story:
            columns.append(_newest_unread_story(now).label("story_id"))
        chosen = sa.select(*columns).where(_audience_of(automation, now))
        queued += _insert_for(automation, chosen, now, _due(calendar, automation, moment), suffix=day.isoformat())
    return queued


def _newest_unread_story(now: datetime):
    """The newest published story the candidate has neither opened nor been sent (None: none left)."""
    # Both correlate to the candidate two levels up and to the story one level up (left to itself,
    # SQLAlchemy would give each its own FROM candidate: one reader would hide a story from everyone).
    opened = (
        sa.select(EngagementEvent.id)
        .where(
            EngagementEvent.candidate_id == Candidate.id,
            # Spelled as ix_engagement_event_story_read's condition (a bound parameter would not use it).
            EngagementEvent.kind == sa.literal_column(f"'{EventKind.STORY}'"),
            EngagementEvent.target == sa.cast(Story.id, sa.String),
        )
        .correlate_except(EngagementEvent)
    )
    sent = (
        sa.select(Outbox.id)
        .where(
            Outbox.candidate_id == Candidate.id,
            Outbox.story_id == Story.id,
            Outbox.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT]),
        )
        .correlate_except(Outbox)
    )
    return (
        sa.select(Story.id)
        .where(Story.published_at <= now, ~opened.exists(), ~sent.exists())
        .order_by(Story.published_at.desc(), Story.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _cohorts_with_moment(days_before: int, clock: str, since: datetime, now: datetime) -> list[tuple[Cohort, datetime]]:
    """Cohorts whose first day less ``days_before`` days, at ``clock``, fell in (since, now], with that moment."""
    days = _days_between(since, now, pad=1)
    starts = [day + timedelta(days=days_before) for day in days]
    cohorts = db.session.scalars(sa.select(Cohort).where(Cohort.starts_on.between(min(starts), max(starts))))
    moments = ((cohort, _local(cohort.starts_on - timedelta(days=days_before), clock)) for cohort in cohorts)
    return [(cohort, moment) for cohort, moment in moments if since < moment <= now]


def _cohort_start(automation: Automation, since: datetime, now: datetime, calendar: WorkCalendar) -> int:
    queued = 0
    for cohort, moment in _cohorts_with_moment(-automation.offset_days, automation.at_time, since, now):
        chosen = _about_their_cohort().where(Candidate.cohort_id == cohort.id, _audience_of(automation, now))
        queued += _insert_for(automation, chosen, now, _due(calendar, automation, moment), suffix=f"c{cohort.id}")
    return queued


def _open_required_items(candidate_id, cohort_id, due_days: int | None = None) -> sa.Select:
    """Required checklist items that apply to the candidate (ChecklistItem.applies_to) and are not ticked;
    ``candidate_id`` and ``cohort_id`` may be values or the candidate table's columns (correlated)."""
    ticked = (
        sa.select(ChecklistCompletion.item_id)
        .where(ChecklistCompletion.candidate_id == candidate_id, ChecklistCompletion.item_id == ChecklistItem.id)
        .correlate_except(ChecklistCompletion)
    )
    query = sa.select(ChecklistItem.id).where(
        ChecklistItem.required, ChecklistItem.applies_to(cohort_id), ~ticked.exists()
    )
    if due_days is not None:
        query = query.where(ChecklistItem.due_days_before == due_days)
    return query


def _due_days_values() -> list[int]:
    """The distinct "due N days before the start" of required items."""
    values = db.session.scalars(
        sa.select(ChecklistItem.due_days_before)
        .where(ChecklistItem.required, ChecklistItem.due_days_before.is_not(None))
        .distinct()
    )
    return [days for days in values if days is not None]


def _checklist_due(automation: Automation, since: datetime, now: datetime, calendar: WorkCalendar) -> int:
    queued = 0
    for due_days in _due_days_values():
        for cohort, moment in _cohorts_with_moment(due_days, automation.at_time, since, now):
            chosen = _about_their_cohort().where(
                Candidate.cohort_id == cohort.id,
                _audience_of(automation, now),
                _open_required_items(Candidate.id, Candidate.cohort_id, due_days).exists(),
            )
            day = cohort.starts_on - timedelta(days=due_days)
            due = _due(calendar, automation, moment)
            queued += _insert_for(automation, chosen, now, due, suffix=f"c{cohort.id}:{day.isoformat()}")
    return queued


def _notice_unseen(automation: Automation, since: datetime, now: datetime, calendar: WorkCalendar) -> int:
    """Candidates given the training notice (the automation's stage, else any stage that needs a cohort)
    ``delay_minutes`` ago, in (since, now], who have not opened their page since."""
    delay = timedelta(minutes=automation.delay_minutes)
    if automation.stage_id is not None:
        stage_ids = [automation.stage_id]
    else:
        stage_ids = list(db.session.scalars(sa.select(Stage.id).where(Stage.needs_cohort)))
    chosen = sa.select(
        Candidate.id.label("candidate_id"),
        _locale_column(),
        Candidate.cohort_id.label("cohort_id"),
        (sa.literal("notice:c") + sa.cast(Candidate.cohort_id, sa.String)).label("key_suffix"),
    ).where(
        Candidate.current_stage_id.in_(stage_ids),
        Candidate.stage_reached_at > since - delay,
        Candidate.stage_reached_at <= now - delay,
        sa.or_(Candidate.last_seen_at.is_(None), Candidate.last_seen_at < Candidate.stage_reached_at),
        Candidate.cohort_id.is_not(None),
        _audience_of(automation, now),
    )
    return _insert_for(automation, chosen, now, _due(calendar, automation, now), suffix=None)


EVALUATORS = {
    Trigger.WEEKLY: _weekly,
    Trigger.COHORT_START: _cohort_start,
    Trigger.CHECKLIST_DUE: _checklist_due,
    Trigger.NOTICE_UNSEEN: _notice_unseen,
}


# ----------------------------------------------------------------------------------------------------------
# Sending: what is still wanted, and the words
# ----------------------------------------------------------------------------------------------------------


def sent_this_week(candidate_id: int, now: datetime) -> int:
    """Non-essential messages sent to the candidate in the 7 days before ``now`` (HR's own included): what the
    weekly cap counts."""
    return db.session.scalar(  # type: ignore[return-value]  # a count is never NULL
        sa.select(sa.func.count()).where(
            Outbox.candidate_id == candidate_id,
            Outbox.status == MessageStatus.SENT,
            ~Outbox.essential,
            Outbox.sent_at > now - timedelta(days=7),
        )
    )


def prepare(row: Outbox, candidate: Candidate, now: datetime) -> str | None:
    """Before an automation's message goes: the reason it must not (it is then dropped with it), else None
    with its subject, body and text parameters written from the automation's templates (once: a retry sends
    the words of the first attempt). A template that cannot be rendered raises TemplateError."""
    automation = db.session.get(Automation, row.automation_id) if row.automation_id is not None else None
    if automation is None:
        return DROPPED_DELETED
    if not automation.enabled:
        return DROPPED_OFF
    unwanted = _unwanted(automation, candidate, row.cohort_id or candidate.cohort_id, now)
    if unwanted:
        return unwanted
    story = db.session.get(Story, row.story_id) if row.story_id is not None else None
    if row.story_id is not None and (story is None or story.published_at is None or story.published_at > now):
        return DROPPED_NO_STORY
    if row.body:  # written at an earlier attempt
        return None
    row.locale = message_locale(candidate)  # as they read now
    context = message_context(candidate, row.locale, cohort_id=row.cohort_id, story=story)
    subject, body, params = render(automation, row.locale, context)
    row.subject, row.body = subject[:200], body
    row.sms_template, row.sms_params = automation.sms_template, params
    return None


def render(automation: Automation, locale: str, context: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    """The subject, body and text-message parameters in ``locale`` (zh, or en falling back to zh when an
    English template is empty). Raises TemplateError."""
    subject, body = localized(automation, "subject", locale), localized(automation, "body", locale)
    rendered_subject = " ".join(_environment.from_string(subject).render(context).split())
    rendered_body = _environment.from_string(body).render(context).strip()
    params = {name: str(context[variable]) for name, variable in (automation.sms_params or {}).items()}
    return rendered_subject, rendered_body, params


def message_context(
    candidate: Candidate, locale: str, *, cohort_id: int | None = None, story: Story | None = None
) -> dict[str, str]:
    """What a template may say about the candidate, in ``locale`` (see VARIABLES)."""
    english = locale.startswith("en")
    cohort_id = cohort_id or candidate.cohort_id
    cohort = db.session.get(Cohort, cohort_id) if cohort_id else None
    stage = db.session.get(Stage, candidate.current_stage_id) if candidate.current_stage_id else None
    owner = db.session.get(User, candidate.owner_id) if candidate.owner_id else None

    def pick(obj: Any, field: str) -> str:
        return localized(obj, field, locale) if obj is not None else ""

    def day(value: date | None) -> str:
        return format_date(value, "long", locale="en" if english else "zh_Hans_CN") if value else ""

    open_items = sa.select(ChecklistItem).where(ChecklistItem.id.in_(_open_required_items(candidate.id, cohort_id)))
    items = db.session.scalars(open_items.order_by(ChecklistItem.position)).all()
    return {
        "name": candidate.name,
        "stage": pick(stage, "label"),
        "cohort_name": cohort.name if cohort else "",
        "cohort_start": day(cohort.starts_on if cohort else None),
        "cohort_end": day(cohort.ends_on if cohort else None),
        "cohort_place": pick(cohort, "place"),
        "cohort_address": cohort.address if cohort else "",
        "bring": pick(cohort, "bring"),
        "portal_link": LINK_PLACEHOLDER,
        "hr_contact": owner.name if owner else "",
        "hr_phone": (owner.phone if owner and owner.phone else "") or current_app.config["HR_HOTLINE"],
        "story_title": pick(story, "title"),
        "story_summary": pick(story, "summary"),
        "open_items": "\n".join(f"- {pick(item, 'label')}" for item in items),
    }


# ----------------------------------------------------------------------------------------------------------
# Candidates' say
# ----------------------------------------------------------------------------------------------------------


def stop_messages(candidate_id: int, *, now: datetime) -> bool:
    """The candidate stops automated messages from their page (essential ones and HR's own still come);
    what already waits for them is dropped when its time comes. False when they had already."""
    return _set_stopped(candidate_id, now, stop=True)


def resume_messages(candidate_id: int, *, now: datetime) -> bool:
    """They take automated messages again: from the next moment on, nothing missed is sent."""
    return _set_stopped(candidate_id, now, stop=False)


def _set_stopped(candidate_id: int, now: datetime, *, stop: bool) -> bool:
    stopped = Candidate.messages_stopped_at
    changed = rows_affected(
        db.session.execute(
            sa.update(Candidate)
            .where(Candidate.id == candidate_id, stopped.is_(None) if stop else stopped.is_not(None))
            .values(messages_stopped_at=now if stop else None)
            .execution_options(synchronize_session=False, preserve_rowcount=True)
        )
    )
    if changed:
        action = "messages.stop" if stop else "messages.resume"
        record_on_candidate(action, candidate_id, actor_user_id=None, detail="from their page")
        expire_loaded(Candidate, {candidate_id}, ["messages_stopped_at"])
    return bool(changed)


# ----------------------------------------------------------------------------------------------------------
# Admins: save, switch on and off, preview, what worked
# ----------------------------------------------------------------------------------------------------------

# What each trigger needs filled in; checked on save.
_NEEDS = {
    Trigger.STAGE_ENTERED: ("stage_id",),
    Trigger.COHORT_MOVED: (),
    Trigger.COHORT_START: ("at_time",),
    Trigger.WEEKLY: ("weekday", "at_time"),
    Trigger.CHECKLIST_DUE: ("at_time",),
    Trigger.NOTICE_UNSEEN: (),
}
_SAMPLE = {name: f"<{name}>" for name in VARIABLES}


def check_template(text: str) -> str | None:
    """Why a template cannot be used, in words and with its line (a syntax error, a variable that is not one,
    something the sandbox forbids); None when it renders."""
    try:
        _environment.from_string(text).render(_SAMPLE)
    except UndefinedError as error:
        name = re.search(r"'([^']*)' is undefined", error.message or "")
        return str(_l("%(name)s is not a variable (they are listed below the form)", name=name[1] if name else "?"))
    except SecurityError:
        return str(_l("a template may only show variables, not compute with them"))
    except TemplateError as error:
        line = getattr(error, "lineno", None)
        return str(_l("line %(line)s: %(error)s", line=line, error=error.message)) if line else str(error.message)
    return None


# How the admin's form names each field in a refusal.
FIELD_LABELS = {
    "stage_id": _l("Stage"),
    "weekday": _l("Day of the week"),
    "at_time": _l("Time"),
    "subject_zh": _l("Subject in Chinese"),
    "subject_en": _l("Subject in English"),
    "body_zh": _l("Message in Chinese"),
    "body_en": _l("Message in English"),
}
# Changing one of these is a new schedule: only moments from then on count.
_TIMING = ("trigger", "stage_id", "delay_minutes", "offset_days", "weekday", "at_time")


def save_automation(automation: Automation, values: dict[str, Any], *, actor_id: int, now: datetime) -> Automation:
    """Create (``automation`` new, not yet added) or change an automation from the admin's form. Refused with an
    AutomationError naming the field, nothing changed: a trigger without what it needs, a template that does not
    render, an SMS parameter mapped to no variable, a kind or channel that is not one. Editing never re-sends:
    messages already sent stay as they went; queued ones are written from the new templates when they go."""
    trigger = str(values.get("trigger"))
    if trigger not in set(Trigger):
        raise AutomationError(_l("Choose a trigger."))
    missing = [str(FIELD_LABELS[name]) for name in _NEEDS[Trigger(trigger)] if values.get(name) in (None, "")]
    if missing:
        raise AutomationError(_l("This trigger needs: %(fields)s.", fields=", ".join(missing)))
    stage_id = values.get("stage_id")
    if stage_id is not None and db.session.get(Stage, stage_id) is None:
        raise AutomationError(_l("That stage does not exist."))
    cohorts = (values.get("audience") or {}).get("cohorts") or []
    if cohorts and db.session.scalar(sa.select(sa.func.count()).where(Cohort.id.in_(cohorts))) != len(set(cohorts)):
        raise AutomationError(_l("That training cohort does not exist."))
    if values.get("weekday") is not None and not 1 <= values["weekday"] <= 7:
        raise AutomationError(_l("Choose a day of the week."))
    if not 0 <= values.get("delay_minutes", 0) <= DELAY_MAX_DAYS * 1440:
        raise AutomationError(_l("A delay is between 0 and %(days)d days.", days=DELAY_MAX_DAYS))
    if not -OFFSET_MAX_DAYS <= values.get("offset_days", 0) <= OFFSET_MAX_DAYS:
        raise AutomationError(_l("Days from the start are between -%(days)d and %(days)d.", days=OFFSET_MAX_DAYS))
    if values.get("at_time") and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", values["at_time"]):
        raise AutomationError(_l("A time is written as 15:00."))
    if values.get("kind") not in AUTOMATION_KINDS:
        raise AutomationError(_l("Choose what kind of message it is."))
    channels = [c for c in str(values.get("channels", "")).split(",") if c]
    if not channels or any(c not in ("email", "sms") for c in channels) or len(set(channels)) != len(channels):
        raise AutomationError(_l("Choose the channels, in order: email, sms or both."))
    if not (values.get("body_zh") or "").strip():
        raise AutomationError(_l("The Chinese message is empty: write it first."))
    for name in ("subject_zh", "subject_en", "body_zh", "body_en"):
        text = values.get(name) or ""
        limit = BODY_MAX if name.startswith("body") else 200
        if len(text) > limit:
            raise AutomationError(_l("%(field)s: at most %(count)d characters.", field=FIELD_LABELS[name], count=limit))
        problem = check_template(text)
        if problem:
            raise AutomationError(_l("%(field)s: %(problem)s", field=FIELD_LABELS[name], problem=problem))
    unknown = sorted(v for v in (values.get("sms_params") or {}).values() if v not in VARIABLES)
    if unknown:
        raise AutomationError(_l("Text message parameters use unknown variables: %(names)s.", names=", ".join(unknown)))
    if "sms" in channels and not values.get("sms_template"):
        raise AutomationError(_l("A text message needs the provider's template id."))
    values["audience"] = Audience.from_dict(values.get("audience")).to_dict()
    new_schedule = any(getattr(automation, name) != values.get(name, getattr(automation, name)) for name in _TIMING)
    for name, value in values.items():
        setattr(automation, name, value)
    automation.updated_at = now
    if automation.enabled and new_schedule:  # no message for a moment of the old schedule, nor of the new one past
        automation.evaluated_until = now
    if automation.id is None:
        automation.enabled = False
        db.session.add(automation)
    db.session.flush()
    record_audit("automation.save", actor_user_id=actor_id, object_type="automation", object_id=automation.id)
    return automation


def switch_automation(automation: Automation, on: bool, *, actor_id: int, now: datetime) -> None:
    """On: only moments and events from now count (no back-fill). Off: what it queued is dropped as it comes due."""
    if automation.enabled == on:
        return
    automation.enabled = on
    if on:
        automation.evaluated_until = now
    else:  # what it queued and has not sent never goes, even if it is switched on again
        db.session.execute(
            sa.update(Outbox)
            .where(Outbox.automation_id == automation.id, Outbox.status == MessageStatus.QUEUED)
            .values(status=MessageStatus.DROPPED, reason=DROPPED_OFF)
            .execution_options(synchronize_session=False)
        )
    automation.updated_at = now
    db.session.flush()
    action = "automation.on" if on else "automation.off"
    record_audit(action, actor_user_id=actor_id, object_type="automation", object_id=automation.id)


def preview(automation: Automation, candidate: Candidate, now: datetime) -> tuple[str, str, dict[str, str]]:
    """The message as ``candidate`` would get it now (the newest story they have not read, for a story
    automation). Raises TemplateError."""
    locale = message_locale(candidate)
    story = None
    if automation.with_story:
        story_id = db.session.scalar(
            sa.select(_newest_unread_story(now)).select_from(Candidate).where(Candidate.id == candidate.id)
        )
        story = db.session.get(Story, story_id) if story_id else None
    return render(automation, locale, message_context(candidate, locale, story=story))


def _unwanted(automation: Automation, candidate: Candidate, cohort_id: int | None, now: datetime) -> str | None:
    """Why a message of ``automation`` must not reach the candidate now (a DROPPED_* reason), or None: they
    stopped ordinary messages, the weekly cap is reached, or (a checklist reminder) nothing is left open."""
    if not _essential(automation):
        if candidate.messages_stopped_at is not None:
            return DROPPED_STOPPED
        if sent_this_week(candidate.id, now) >= current_app.config["AUTOMATION_WEEKLY_CAP"]:
            return DROPPED_CAP
    if automation.trigger == Trigger.CHECKLIST_DUE and not db.session.scalar(
        _open_required_items(candidate.id, cohort_id).exists().select()
    ):
        return DROPPED_NOTHING_OPEN
    return None


def would_not_go(automation: Automation, candidate: Candidate, now: datetime) -> str | None:
    """Why the automation would not reach this candidate now (for the preview), as a reason the back-office
    words (hr.wording.message_reason); None if it would."""
    if not Audience.from_dict(automation.audience).includes(candidate.id, now):
        return NOT_IN_AUDIENCE
    return _unwanted(automation, candidate, candidate.cohort_id, now)


@dataclass(frozen=True)
class AutomationStats:
    queued: int
    sent: int
    failed: int
    dropped: dict[str, int]  # reason -> messages
    recipients: int  # distinct candidates a message reached
    opened_within_48h: int  # of them, who opened the portal through that message's link within 48 hours

    @property
    def opened_share(self) -> float | None:
        return self.opened_within_48h / self.recipients if self.recipients else None


def _hours_between(earlier, later):
    """``later - earlier`` in hours, in SQL (SQLite keeps times as text: through julianday)."""
    if db.session.get_bind().dialect.name == "sqlite":
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 24
    return sa.func.extract("epoch", later - earlier) / 3600


def automation_stats(automation_id: int) -> AutomationStats:
    """What it did: messages by state, the dropped ones by reason, and who opened the portal through them."""
    counts = dict(
        db.session.execute(
            sa.select(Outbox.status, sa.func.count())
            .where(Outbox.automation_id == automation_id)
            .group_by(Outbox.status)
        ).all()
    )
    dropped = dict(
        db.session.execute(
            sa.select(Outbox.reason, sa.func.count())
            .where(Outbox.automation_id == automation_id, Outbox.status == MessageStatus.DROPPED)
            .group_by(Outbox.reason)
            .order_by(sa.func.count().desc())
        ).all()
    )
    sent = sa.and_(Outbox.automation_id == automation_id, Outbox.status == MessageStatus.SENT)
    recipients = db.session.scalar(sa.select(sa.func.count(sa.distinct(Outbox.candidate_id))).where(sent))
    opened = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Outbox.candidate_id)))
        .join(PortalLink, PortalLink.id == Outbox.link_id)
        .where(
            sent,
            PortalLink.first_opened_at.is_not(None),
            _hours_between(Outbox.sent_at, PortalLink.first_opened_at) <= 48,
        )
    )
    return AutomationStats(
        queued=counts.get(MessageStatus.QUEUED, 0) + counts.get(MessageStatus.SENDING, 0),
        sent=counts.get(MessageStatus.SENT, 0),
        failed=counts.get(MessageStatus.FAILED, 0),
        dropped=dropped,
        recipients=recipients or 0,
        opened_within_48h=opened or 0,
    )


# ----------------------------------------------------------------------------------------------------------
# The rhythm new installations start from (the demo switches it on)
# ----------------------------------------------------------------------------------------------------------

_SIGNATURE_ZH = "\n\n有问题请联系 {{ hr_contact or 'HR' }}：{{ hr_phone }}"
_SIGNATURE_EN = "\n\nQuestions? Call {{ hr_contact or 'HR' }}: {{ hr_phone }}"
RHYTHM: tuple[dict[str, Any], ...] = (
    {
        "name": "欢迎与页面链接 · Welcome with the portal link",
        "trigger": Trigger.STAGE_ENTERED,
        "stage": "first",
        "delay_minutes": 60,
        "subject_zh": "欢迎，{{ name }}！这是您的入职页面",
        "subject_en": "Welcome, {{ name }}! Here is your onboarding page",
        "body_zh": "{{ name }}，您好：\n\n恭喜通过面试！您的进度、培训安排和需要准备的材料都在这里：\n{{ portal_link }}"
        + _SIGNATURE_ZH,
        "body_en": "Hello {{ name }},\n\nCongratulations on passing the interview! Where you stand, your training "
        "and what to prepare are all here:\n{{ portal_link }}" + _SIGNATURE_EN,
        "sms_params": {"name": "name", "link": "portal_link"},
    },
    {
        "name": "入职准备建议 · Preparation tips",
        "trigger": Trigger.STAGE_ENTERED,
        "stage": "first",
        "delay_minutes": 3 * 24 * 60 + 60,
        "subject_zh": "入职前的几条小建议",
        "subject_en": "A few tips before you start",
        "body_zh": "{{ name }}，您好：\n\n入职前可以先做这几件事：准备好身份证和银行卡，预约体检，"
        "看看同事们的故事。\n{{ portal_link }}" + _SIGNATURE_ZH,
        "body_en": "Hello {{ name }},\n\nA few things you can do before you start: have your ID card and a bank "
        "card ready, book your medical check, and read your future colleagues' stories.\n{{ portal_link }}"
        + _SIGNATURE_EN,
    },
    {
        "name": "每周五同事故事 · A colleague's story every Friday",
        "trigger": Trigger.WEEKLY,
        "weekday": 5,
        "at_time": "15:00",
        "with_story": True,
        # Those still waiting for their training: in its last week the countdown and reminders fill the cap.
        "audience_until": "notice",
        "subject_zh": "同事的故事：{{ story_title }}",
        "subject_en": "A colleague's story: {{ story_title }}",
        "body_zh": "{{ name }}，周末愉快！\n\n{{ story_title }}\n{{ story_summary }}\n\n"
        "在您的页面的“同事故事”里读全文：{{ portal_link }}",
        "body_en": "Have a good weekend, {{ name }}!\n\n{{ story_title }}\n{{ story_summary }}\n\n"
        'Read it all under "Stories" on your page: {{ portal_link }}',
    },
    {
        "name": "录用确认 · Your offer is approved",
        "trigger": Trigger.STAGE_ENTERED,
        "stage": "notice",
        "kind": MessageKind.OFFER_DECISION,
        "subject_zh": "您的录用已确认",
        "subject_en": "Your offer is approved",
        "body_zh": "{{ name }}，您好：\n\n您的录用已确认！培训 {{ cohort_start }} 在 {{ cohort_place }}"
        "（{{ cohort_address }}）开始。\n{{ portal_link }}" + _SIGNATURE_ZH,
        "body_en": "Hello {{ name }},\n\nYour offer is approved! Training starts on {{ cohort_start }} at "
        "{{ cohort_place }} ({{ cohort_address }}).\n{{ portal_link }}" + _SIGNATURE_EN,
    },
    {
        "name": "开训前一周：携带物品 · One week to go: what to bring",
        "trigger": Trigger.COHORT_START,
        "offset_days": -7,
        "at_time": "10:00",
        "subject_zh": "还有一周：培训需要带什么",
        "subject_en": "One week to go: what to bring",
        "body_zh": "{{ name }}，您好：\n\n培训 {{ cohort_start }} 开始，地点 {{ cohort_place }}"
        "（{{ cohort_address }}）。\n请带上：{{ bring }}\n{{ portal_link }}" + _SIGNATURE_ZH,
        "body_en": "Hello {{ name }},\n\nTraining starts on {{ cohort_start }} at {{ cohort_place }} "
        "({{ cohort_address }}).\nPlease bring: {{ bring }}\n{{ portal_link }}" + _SIGNATURE_EN,
    },
    {
        "name": "明天见 · See you tomorrow",
        "trigger": Trigger.COHORT_START,
        "offset_days": -1,
        "at_time": "16:00",
        "any_day": True,  # a Monday's cohort: Sunday afternoon, not Monday morning
        "subject_zh": "明天见！",
        "subject_en": "See you tomorrow!",
        "body_zh": "{{ name }}，明天见！\n\n{{ cohort_place }}，{{ cohort_address }}。\n{{ portal_link }}"
        + _SIGNATURE_ZH,
        "body_en": "See you tomorrow, {{ name }}!\n\n{{ cohort_place }}, {{ cohort_address }}.\n{{ portal_link }}"
        + _SIGNATURE_EN,
    },
    {
        "name": "清单提醒 · Checklist reminder",
        "trigger": Trigger.CHECKLIST_DUE,
        "at_time": "10:00",
        "subject_zh": "别忘了准备这些",
        "subject_en": "Don't forget to prepare these",
        "body_zh": "{{ name }}，您好：\n\n这些还没有勾选：\n{{ open_items }}\n\n准备好后在页面上勾选：{{ portal_link }}"
        + _SIGNATURE_ZH,
        "body_en": "Hello {{ name }},\n\nThese are not ticked yet:\n{{ open_items }}\n\nTick them on your page once "
        "ready: {{ portal_link }}" + _SIGNATURE_EN,
    },
    {
        "name": "培训通知未读：短信 · Training notice not seen: a text message",
        "trigger": Trigger.NOTICE_UNSEEN,
        "delay_minutes": 24 * 60,
        "channels": "sms,email",
        "sms_template": "keepwarm_training_notice",
        "sms_params": {"name": "name", "date": "cohort_start", "link": "portal_link"},
        "subject_zh": "请查看您的培训通知",
        "subject_en": "Please read your training notice",
        "body_zh": "{{ name }}，您好：\n\n您的培训 {{ cohort_start }} 开始，请打开页面查看时间和地点：{{ portal_link }}"
        + _SIGNATURE_ZH,
        "body_en": "Hello {{ name }},\n\nYour training starts on {{ cohort_start }}: please open your page for the "
        "times and the place: {{ portal_link }}" + _SIGNATURE_EN,
    },
)


def seed_rhythm(*, now: datetime, enabled: bool) -> list[Automation]:
    """The rhythm above as automations ("first": the first stage of the pipeline; "notice": the first that needs a
    cohort), switched on from ``now`` or off. Those whose stage the pipeline lacks are left out."""
    stages = {
        "first": db.session.scalars(sa.select(Stage).order_by(Stage.position).limit(1)).first(),
        "notice": db.session.scalars(sa.select(Stage).where(Stage.needs_cohort).order_by(Stage.position)).first(),
    }
    made = []
    for spec in RHYTHM:
        values = {"kind": MessageKind.AUTOMATED, "channels": "email", "sms_template": "", "sms_params": {}, **spec}
        stage = stages.get(values.pop("stage", None) or "")
        if spec.get("stage") and stage is None:
            continue
        until = stages.get(values.pop("audience_until", None) or "")
        audience = {}
        if until is not None:
            waiting = sa.select(Stage.key).where(Stage.position <= until.position).order_by(Stage.position)
            audience = {"stages": list(db.session.scalars(waiting))}
        if "sms_params" in spec and "sms_template" not in spec:
            values["sms_template"] = current_app.config["SMS_TEMPLATE_LINK"]
        automation = Automation(
            stage_id=stage.id if stage else None,
            audience=audience,
            enabled=enabled,
            evaluated_until=now if enabled else None,
            updated_at=now,
            **values,
        )
        db.session.add(automation)
        made.append(automation)
    db.session.flush()
    return made
