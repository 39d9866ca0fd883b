"""Working time in the organisation's time zone: when "the start of the day" is (WORKDAY_START), which days
are working days (the work calendar: weekly rest days, public holidays and China's make-up working days),
and when a message may be sent. Send windows and working-hour rules ask here, and nowhere else.
"""

import functools
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models.calendar import CalendarDay, CalendarSource, CalendarYear, DayKind
from portal.services import dialect_insert
from portal.services.audit import record_audit


def organisation_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def organisation_date(now: datetime) -> date:
    """The day it is at ``now`` as the organisation counts days."""
    return now.astimezone(organisation_zone()).date()


def start_of_working_day(day: date) -> datetime:
    """WORKDAY_START (e.g. 09:00) on ``day`` in the organisation's time zone."""
    return datetime.combine(day, time.fromisoformat(current_app.config["WORKDAY_START"]), tzinfo=organisation_zone())


def next_working_morning(now: datetime) -> datetime:
    """The start of the next working day after today (the work calendar's), as the organisation counts days."""
    return WorkCalendar(now).next_working_morning(now)


# --------------------------------------------------------------------------------------------
# The work calendar: weekly rest days (REST_DAYS) plus the days that break the pattern both ways (public
# holidays, and the make-up working days China moves around them), seeded from the holidays package,
# imported from a file or edited. Send windows and working-hour rules ask it, and nothing else.
# --------------------------------------------------------------------------------------------

MAKE_UP_DAY_NAME = "调休上班"


class CalendarError(ValueError):
    """A calendar file that cannot be read; ``problems`` says which lines and why. Nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class SendAt:
    """When a message may go, in UTC; ``provisional`` when it rests on a year whose make-up working days
    are not yet published (the library guesses that year's holidays and knows none of its make-up days)."""

    at: datetime
    provisional: bool


@functools.cache
def _library_year(year: int) -> tuple[dict[date, tuple[str, str]], list[date]]:
    """The holidays package's China calendar of ``year`` (its days off and its make-up working days), worked out
    once per process: it costs a third of a second, and the package's data cannot change while it runs."""
    china = holidays.China(years=year, language="zh_CN")
    make_up = sorted(day for day in china.weekend_workdays if day.year == year)
    days = {day: (DayKind.REST.value, name) for day, name in china.items()}
    days.update(dict.fromkeys(make_up, (DayKind.WORK.value, MAKE_UP_DAY_NAME)))
    return days, make_up


def seed_year_from_library(year: int, now: datetime) -> bool:
    """China's public holidays of ``year`` and its make-up working days, as the holidays package lists them,
    unless the year is already there (another request or job may have seeded it a moment ago); returns
    whether the year is confirmed: only when make-up days are listed (the package guesses unpublished years).

    INSERT … ON CONFLICT DO NOTHING rather than a savepoint: SQLite's driver commits the whole transaction
    when its outermost savepoint is released.
    """
    days, make_up = _library_year(year)
    added = db.session.execute(
        dialect_insert(CalendarYear)
        .values(year=year, source=CalendarSource.LIBRARY, confirmed=bool(make_up), loaded_at=now)
        .on_conflict_do_nothing(index_elements=["year"])
        .returning(CalendarYear.year)  # the ORM's INSERT gives no row count on PostgreSQL (-1)
    ).first()
    if added is not None:
        db.session.execute(
            dialect_insert(CalendarDay).on_conflict_do_nothing(index_elements=["day"]),
            [{"day": day, "kind": kind, "name": name[:120]} for day, (kind, name) in days.items()],
        )
    return year_confirmed(year)


def import_calendar(
    text: str, now: datetime, *, only_year: int | None = None, actor_id: int | None = None
) -> list[int]:
    """Replace whole years with a file's days, one a line: ``2027-02-06 work 调休上班`` or ``2027-02-11 rest
    春节`` (``#`` starts a comment). The years are then confirmed; audited. Returns them; refuses the whole
    file (CalendarError, nothing changed) when a line is not one of these, or (``only_year``) is another year's.
    """
    days: dict[date, tuple[str, str]] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(maxsplit=2)
        try:
            day = date.fromisoformat(parts[0])
            kind = DayKind(parts[1].lower())
        except (ValueError, IndexError):
            problems.append(
                _l("line %(number)d: expected a date (2027-02-06), rest or work, and a name", number=number)
            )
            continue
        if only_year is not None and day.year != only_year:
            problems.append(_l("line %(number)d: %(day)s is not in %(year)d", number=number, day=day, year=only_year))
        if day in days:
            problems.append(_l("line %(number)d: %(day)s twice", number=number, day=day))
        name = "".join(ch for ch in parts[2] if unicodedata.category(ch) != "Cc") if len(parts) > 2 else ""  # no NUL
        days[day] = (kind, name)
    if not days and not problems:  # every year has public holidays: an empty text is a mistake, not a year
        problems.append(_l("no days in the file: a year always has public holidays"))
    if problems:
        raise CalendarError(problems)
    years = [only_year] if only_year is not None else sorted({day.year for day in days})
    for year in years:
        db.session.execute(sa.delete(CalendarDay).where(_days_of(year)))
        db.session.execute(sa.delete(CalendarYear).where(CalendarYear.year == year))
        db.session.add(CalendarYear(year=year, source=CalendarSource.FILE, confirmed=True, loaded_at=now))
    db.session.add_all(CalendarDay(day=day, kind=kind, name=name[:120]) for day, (kind, name) in days.items())
    db.session.flush()
    detail = f"{', '.join(map(str, years))}: {len(days)} days"
    record_audit("calendar.import", actor_user_id=actor_id, object_type="calendar", detail=detail)
    return years


@dataclass(frozen=True)
class YearState:
    """A year of the calendar as the admin page and ``flask calendar show`` present it."""

    year: int
    confirmed: bool
    source: str
    loaded_at: datetime
    days: list[CalendarDay]


def calendar_year(year: int, now: datetime) -> YearState:
    """The year, seeded from the holidays package if it was never needed before (flushed; the caller commits)."""
    if db.session.get(CalendarYear, year) is None:
        seed_year_from_library(year, now)
    known = db.session.get_one(CalendarYear, year)
    days = db.session.scalars(sa.select(CalendarDay).where(_days_of(year)).order_by(CalendarDay.day)).all()
    return YearState(year, known.confirmed, known.source, known.loaded_at, list(days))


def calendar_file(days: list[CalendarDay]) -> str:
    """Days as the file ``import_calendar`` reads: ``2027-02-06 work 调休上班``, a line each."""
    return "".join(f"{day.day} {day.kind} {day.name}".rstrip() + "\n" for day in days)


def year_confirmed(year: int) -> bool:
    """Whether ``year`` is published (not the package's guess, nor never seeded): a send time in a year that is
    not says so."""
    return bool(db.session.scalar(sa.select(CalendarYear.confirmed).where(CalendarYear.year == year)))


def _days_of(year: int) -> sa.ColumnElement[bool]:
    return CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31))


def _clock(setting: str) -> time:
    return time.fromisoformat(current_app.config[setting])


class WorkCalendar:
    """The working days of the years around ``now``, read once (a few dozen rows a year).

    A year the database does not hold yet is seeded from the holidays package first (flushed; the request
    or job commits), so the first message of a new year finds its holidays.
    """

    LOOK_AHEAD_DAYS = 400  # longer than any run of rest days; past it, something is wrong with the calendar

    def __init__(self, now: datetime) -> None:
        self.zone = organisation_zone()
        self.rest_weekdays = {int(day) for day in current_app.config["REST_DAYS"].split(",") if day.strip()}
        self._exceptions: dict[date, str] = {}
        self._confirmed: dict[int, bool] = {}
        self._now = now
        self._load(organisation_date(now).year)

    def _load(self, year: int) -> None:
        years = [year, year + 1]
        known = dict(
            db.session.execute(
                sa.select(CalendarYear.year, CalendarYear.confirmed).where(CalendarYear.year.in_(years))
            ).all()
        )
        for missing in sorted(set(years) - set(known)):
            known[missing] = seed_year_from_library(missing, self._now)
        self._confirmed.update(known)
        rows = db.session.execute(
            sa.select(CalendarDay.day, CalendarDay.kind).where(
                CalendarDay.day.between(date(year, 1, 1), date(year + 1, 12, 31))
            )
        )
        self._exceptions.update(dict(rows.all()))

    def confirmed(self, year: int) -> bool:
        if year not in self._confirmed:
            self._load(year)
        return self._confirmed[year]

    def is_working_day(self, day: date) -> bool:
        if day.year not in self._confirmed:
            self._load(day.year)
        kind = self._exceptions.get(day)
        if kind is not None:
            return kind == DayKind.WORK
        return day.isoweekday() not in self.rest_weekdays

    def next_working_morning(self, now: datetime) -> datetime:
        """WORKDAY_START of the first working day after the one ``now`` falls on."""
        day = now.astimezone(self.zone).date() + timedelta(days=1)
        for _ in range(self.LOOK_AHEAD_DAYS):
            if self.is_working_day(day):
                return start_of_working_day(day)
            day += timedelta(days=1)
        raise RuntimeError(f"no working day in the {self.LOOK_AHEAD_DAYS} days after {now.date()}")

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def _working_hours_of(self, day: date) -> tuple[datetime, datetime] | None:
        """WORKDAY_START to WORKDAY_END of ``day`` in UTC, or None on a day off."""
        if not self.is_working_day(day):
            return None
        return self._at(day, _clock("WORKDAY_START")), self._at(day, _clock("WORKDAY_END"))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) falls within working hours on working days."""
        total = timedelta()
        day = start.astimezone(self.zone).date()
        while day <= end.astimezone(self.zone).date():
            hours = self._working_hours_of(day)
            if hours is not None:
                total += max(timedelta(), min(end, hours[1]) - max(start, hours[0]))
            day += timedelta(days=1)
        return total

    def working_time_before(self, end: datetime, amount: timedelta) -> datetime:
        """The latest moment from which ``amount`` of working time has passed by ``end``: whatever began at or
        before it has waited that long in working hours (the working-hour rules' threshold)."""
        day = end.astimezone(self.zone).date()
        left = amount
        for _ in range(self.LOOK_AHEAD_DAYS):
            hours = self._working_hours_of(day)
            if hours is not None and hours[0] < end:
                worked = min(end, hours[1]) - hours[0]
                if worked >= left:
                    return min(end, hours[1]) - left
                left -= worked
            day -= timedelta(days=1)
        raise RuntimeError(f"no working day in the {self.LOOK_AHEAD_DAYS} days before {end.date()}")

    def working_from(self, now: datetime) -> datetime:
        """``now`` if it falls within working hours, else the start of the next working hours (the
        candidate's "when to expect an answer": the next working morning, a make-up Saturday included)."""
        day = now.astimezone(self.zone).date()
        for _ in range(self.LOOK_AHEAD_DAYS):
            hours = self._working_hours_of(day)
            if hours is not None and now < hours[1]:
                return max(now, hours[0])
            day += timedelta(days=1)
        raise RuntimeError(f"no working day in the {self.LOOK_AHEAD_DAYS} days after {now.date()}")

    def send_at(self, now: datetime, *, essential: bool) -> SendAt:
        """The first moment from ``now`` a message may go: an essential one (or one HR marked urgent) any day
        but never between QUIET_FROM and QUIET_UNTIL; any other within working hours on a working day."""
        now = now.astimezone(UTC)
        today = now.astimezone(self.zone).date()
        quiet_from, quiet_until = _clock("QUIET_FROM"), _clock("QUIET_UNTIL")
        if essential:
            for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
                night = self._at(day, quiet_from), self._at(day + timedelta(days=1), quiet_until)
                if night[0] <= now < night[1]:
                    return SendAt(night[1], provisional=False)
            return SendAt(now, provisional=False)
        opens = max(_clock("WORKDAY_START"), quiet_until)
        closes = min(_clock("WORKDAY_END"), quiet_from)
        provisional = False
        for offset in range(self.LOOK_AHEAD_DAYS):
            day = today + timedelta(days=offset)
            provisional = provisional or not self.confirmed(day.year)
            if self.is_working_day(day) and now < self._at(day, closes):
                return SendAt(max(now, self._at(day, opens)), provisional)
        raise RuntimeError(f"no working day in the {self.LOOK_AHEAD_DAYS} days after {today}")
