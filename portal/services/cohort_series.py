"""Planning a series of monthly training cohorts on the work calendar, and moving a curriculum onto new dates.

Pure reading: nothing here writes (though WorkCalendar seeds a year it has never seen, as it always does).
"""

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import islice
from typing import Generic, Protocol, TypeVar

from babel.dates import format_skeleton, get_day_names
from flask_babel import LazyString, get_locale
from flask_babel import lazy_gettext as _l

from portal.services.worktime import WorkCalendar

MONTHS_MAX = 12
FIRST_YEAR, LAST_YEAR = 2000, 2100  # beyond these, a year is a typo (and the calendar has no years past 9999)
WORKING_DAYS_MAX = 30
NTH_WORDS = {1: _l("first"), 2: _l("second"), 3: _l("third"), 4: _l("fourth"), -1: _l("last")}


class SeriesError(ValueError):
    """A series rule that cannot be planned; the message says which field and why (``field``: which input, when a
    form's)."""

    def __init__(self, message, field: str | None = None):
        super().__init__(message)
        self.field = field


# What each field of a rule must be: validate_rule's refusals, and a form's when what was typed is no number.
RULE_REFUSALS = {
    "first_month": _l("The first month must be a date."),
    "months": _l("Months must be a whole number from 1 to %(max)d.", max=MONTHS_MAX),
    "weekday": _l("The weekday must be a whole number from 1 (Monday) to 7 (Sunday)."),
    "nth": _l("The week must be the first, second, third, fourth or last (1 to 4, or -1)."),
    "working_days": _l("Working days must be a whole number from 1 to %(max)d.", max=WORKING_DAYS_MAX),
}


def refusal(field: str) -> SeriesError:
    """The refusal of a rule's ``field`` (one of RULE_REFUSALS) as validate_rule words it."""
    return SeriesError(RULE_REFUSALS[field], field)


@dataclass(frozen=True)
class SeriesRule:
    """Monthly cohorts: from ``first_month`` (only its year and month count) for ``months`` months, each starting
    on the ``nth`` working ``weekday`` (ISO, 1 = Monday; nth -1 = the last) and lasting ``working_days``."""

    first_month: date
    months: int
    weekday: int
    nth: int
    working_days: int


@dataclass(frozen=True)
class PlannedCohort:
    """One cohort of a series as the preview shows it; ``unconfirmed_years`` are the years its days fall in whose
    calendar is not yet published (the dates may still move)."""

    starts_on: date
    ends_on: date
    days: tuple[date, ...]
    unconfirmed_years: tuple[int, ...]


class Timed(Protocol):
    """Anything with a start and an end, e.g. a CohortSession."""

    @property
    def starts_at(self) -> datetime: ...

    @property
    def ends_at(self) -> datetime: ...


S = TypeVar("S", bound=Timed)


@dataclass(frozen=True)
class ShiftedSession(Generic[S]):
    """A session of the source curriculum and where it lands in the new cohort (UTC)."""

    session: S
    starts_at: datetime
    ends_at: datetime


def _whole_number(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def validate_rule(rule: SeriesRule) -> SeriesRule:
    """The rule, unchanged, or a SeriesError naming the first field out of bounds (the admin form shows it)."""
    if not isinstance(rule.first_month, date):
        raise refusal("first_month")
    if not FIRST_YEAR <= rule.first_month.year <= LAST_YEAR:
        raise SeriesError(
            _l("The first month must be in a year from %(first)d to %(last)d.", first=FIRST_YEAR, last=LAST_YEAR),
            "first_month",
        )
    if not _whole_number(rule.months, 1, MONTHS_MAX):
        raise refusal("months")
    if not _whole_number(rule.weekday, 1, 7):
        raise refusal("weekday")
    if not (_whole_number(rule.nth, 1, 4) or _whole_number(rule.nth, -1, -1)):
        raise refusal("nth")
    if not _whole_number(rule.working_days, 1, WORKING_DAYS_MAX):
        raise refusal("working_days")
    return rule


def plan_series(rule: SeriesRule, calendar: WorkCalendar) -> tuple[list[PlannedCohort], list[str]]:
    """The cohorts the rule gives, month by month, and a problem for each month where none can start (every
    such weekday a holiday): the admin sees both before anything is created. SeriesError for a bad rule."""
    validate_rule(rule)
    cohorts: list[PlannedCohort] = []
    problems: list[str] = []
    for offset in range(rule.months):
        years_on, month = divmod(rule.first_month.month - 1 + offset, 12)
        month_start = date(rule.first_month.year + years_on, month + 1, 1)
        start = _nth_working_weekday(calendar, month_start, rule.weekday, rule.nth)
        if start is None:
            problems.append(
                _l(
                    "%(month)s has no %(nth)s working %(weekday)s: no cohort starts that month.",
                    month=LazyString(_month_words, month_start),
                    nth=NTH_WORDS[rule.nth],
                    weekday=LazyString(_weekday_words, rule.weekday),
                )
            )
            continue
        days = tuple(islice(_working_days_from(calendar, start), rule.working_days))
        unconfirmed = tuple(sorted(year for year in {day.year for day in days} if not calendar.confirmed(year)))
        cohorts.append(PlannedCohort(days[0], days[-1], days, unconfirmed))
    return cohorts, problems


def working_days_between(calendar: WorkCalendar, first: date, last: date) -> list[date]:
    """The working days from ``first`` to ``last`` inclusive: a cohort's days from its starts_on and ends_on."""
    span = (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    return [day for day in span if calendar.is_working_day(day)]


def shift_curriculum(
    sessions: Iterable[S], source_days: Sequence[date], target_days: Sequence[date], zone: tzinfo
) -> tuple[list[ShiftedSession[S]], int]:
    """The sessions moved from the source cohort's working days onto the target's, keeping their local clock
    times: the session on the source's nth working day goes to the target's nth (a session on a rest day goes
    with the next working day). Sessions past the target's last day are left out; the int says how many."""
    shifted: list[ShiftedSession[S]] = []
    left_out = 0
    for session in sessions:
        if session.starts_at.tzinfo is None or session.ends_at.tzinfo is None:
            raise ValueError("naive datetime given; sessions start and end at timezone-aware times")
        starts, ends = session.starts_at.astimezone(zone), session.ends_at.astimezone(zone)
        index = bisect_left(source_days, starts.date())  # source working days before the session's day
        if index >= len(target_days):
            left_out += 1
            continue
        day = target_days[index]
        end_day = day + (ends.date() - starts.date())  # a session past midnight still ends the next day
        shifted.append(
            ShiftedSession(
                session,
                datetime.combine(day, starts.time(), tzinfo=zone).astimezone(UTC),
                datetime.combine(end_day, ends.time(), tzinfo=zone).astimezone(UTC),
            )
        )
    return shifted, left_out


def _nth_working_weekday(calendar: WorkCalendar, month_start: date, weekday: int, nth: int) -> date | None:
    """The nth (or, -1, the last) day of the month that is ``weekday`` and a working day: a Monday that is a
    holiday does not count, so "the first working Monday" after a holiday Monday is the next one."""
    day = month_start + timedelta(days=(weekday - month_start.isoweekday()) % 7)
    candidates = []
    while day.month == month_start.month:
        if calendar.is_working_day(day):
            candidates.append(day)
        day += timedelta(days=7)
    if nth == -1:
        return candidates[-1] if candidates else None
    return candidates[nth - 1] if len(candidates) >= nth else None


def _working_days_from(calendar: WorkCalendar, start: date) -> Iterator[date]:
    """Working days from ``start`` on (make-up Saturdays included, holidays not)."""
    day, since_last = start, 0
    while since_last < WorkCalendar.LOOK_AHEAD_DAYS:
        if calendar.is_working_day(day):
            since_last = 0
            yield day
        else:
            since_last += 1
        day += timedelta(days=1)
    raise RuntimeError(f"no working day in the {WorkCalendar.LOOK_AHEAD_DAYS} days before {day}")


def _month_words(month: date) -> str:
    return format_skeleton("yMMMM", month, locale=get_locale())


def _weekday_words(weekday: int) -> str:
    return str(get_day_names("wide", locale=get_locale())[weekday - 1])


def days_of(calendar: WorkCalendar, first: date, last: date) -> list[date]:
    """A cohort's training days: its working days by the calendar (all its days if none is one: a weekend
    course)."""
    return working_days_between(calendar, first, last) or [
        date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)
    ]
