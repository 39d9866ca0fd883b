"""Planning monthly cohorts on the work calendar: month ends, National Day week, make-up Saturdays, a year not
yet published, the last working weekday, a month with no start, refused rules, and moving a curriculum."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from portal.extensions import db
from portal.models import CalendarDay, CalendarYear
from portal.models.calendar import CalendarSource
from portal.models.cohorts import CohortSession
from portal.services.cohort_series import (
    SeriesError,
    SeriesRule,
    plan_series,
    shift_curriculum,
    validate_rule,
    working_days_between,
)
from portal.services.worktime import WorkCalendar, organisation_zone

MONDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = 1, 4, 5, 6, 7
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
# The whole calendar the tests see, so none depends on what the holidays package guesses.
CALENDAR = """
2027-01-01 rest 元旦
2027-09-25 work 调休上班
2027-10-01 rest 国庆节
2027-10-02 rest 国庆节
2027-10-03 rest 国庆节
2027-10-04 rest 国庆节
2027-10-05 rest 国庆节
2027-10-06 rest 国庆节
2027-10-07 rest 国庆节
2027-10-09 work 调休上班
2028-01-01 rest 元旦
2028-01-03 rest 元旦
"""


def given_calendar(extra: str = "", *, unconfirmed: tuple[int, ...] = ()) -> WorkCalendar:
    """2027 and 2028 exactly as CALENDAR (and ``extra``) say, the years in ``unconfirmed`` not yet published."""
    for year in (2027, 2028):
        confirmed = year not in unconfirmed
        source = CalendarSource.FILE if confirmed else CalendarSource.LIBRARY
        db.session.add(CalendarYear(year=year, source=source, confirmed=confirmed, loaded_at=NOW))
    for line in (CALENDAR + extra).split("\n"):
        if line.strip():
            day, kind, name = line.split()
            db.session.add(CalendarDay(day=date.fromisoformat(day), kind=kind, name=name))
    db.session.flush()
    return WorkCalendar(datetime(2027, 1, 4, 2, 0, tzinfo=UTC))


def rule(first_month: date, months: int = 1, weekday: int = MONDAY, nth: int = 1, working_days: int = 5) -> SeriesRule:
    return SeriesRule(first_month=first_month, months=months, weekday=weekday, nth=nth, working_days=working_days)


def weekdays(first: str, count: int) -> tuple[date, ...]:
    """``count`` consecutive days from ``first`` (a week's Monday to Friday, say)."""
    start = date.fromisoformat(first)
    return tuple(start + timedelta(days=offset) for offset in range(count))


def test_a_series_starts_on_the_first_working_monday_of_each_month(app):
    cohorts, problems = plan_series(rule(date(2027, 1, 20), months=3), given_calendar())
    assert problems == []
    assert [(c.starts_on, c.ends_on) for c in cohorts] == [
        (date(2027, 1, 4), date(2027, 1, 8)),  # only the month of first_month counts, not its day
        (date(2027, 2, 1), date(2027, 2, 5)),
        (date(2027, 3, 1), date(2027, 3, 5)),
    ]
    assert cohorts[1].days == weekdays("2027-02-01", 5)
    assert all(c.unconfirmed_years == () for c in cohorts)
    library = sa.select(sa.func.count()).where(CalendarYear.source == CalendarSource.LIBRARY)
    assert db.session.scalar(library) == 0  # the calendar is the test's own: nothing seeded from the package


def test_the_last_working_weekday_starts_a_cohort_that_runs_into_the_next_month(app):
    cohorts, _ = plan_series(rule(date(2027, 1, 1), months=2, weekday=THURSDAY, nth=-1), given_calendar())
    assert [c.days for c in cohorts] == [
        (date(2027, 1, 28), date(2027, 1, 29), date(2027, 2, 1), date(2027, 2, 2), date(2027, 2, 3)),
        (date(2027, 2, 25), date(2027, 2, 26), date(2027, 3, 1), date(2027, 3, 2), date(2027, 3, 3)),
    ]


@pytest.mark.parametrize(
    "month, weekday, nth, expected",
    [
        (date(2027, 10, 1), MONDAY, 1, date(2027, 10, 11)),  # Monday the 4th is in National Day week
        (date(2027, 10, 1), MONDAY, 2, date(2027, 10, 18)),
        (date(2027, 10, 1), MONDAY, 3, date(2027, 10, 25)),
        (date(2027, 10, 1), MONDAY, -1, date(2027, 10, 25)),
        (date(2027, 10, 1), MONDAY, 4, None),  # only three working Mondays
        (date(2027, 10, 1), FRIDAY, 1, date(2027, 10, 8)),  # Friday the 1st is National Day
        (date(2027, 10, 1), SATURDAY, 1, date(2027, 10, 9)),  # the make-up Saturday is a working Saturday
        (date(2027, 9, 1), SATURDAY, -1, date(2027, 9, 25)),
        (date(2027, 9, 1), SUNDAY, 1, None),  # no Sunday is worked
        (date(2027, 9, 1), MONDAY, -1, date(2027, 9, 27)),
    ],
)
def test_the_start_is_the_nth_such_weekday_that_is_a_working_day(app, month, weekday, nth, expected):
    cohorts, problems = plan_series(rule(month, weekday=weekday, nth=nth, working_days=1), given_calendar())
    assert [c.starts_on for c in cohorts] == ([expected] if expected else [])
    assert len(problems) == (0 if expected else 1)


def test_a_cohort_skips_the_holiday_week(app):
    # The last working Monday of September: four days, then National Day week, then Friday the 8th.
    cohorts, _ = plan_series(rule(date(2027, 9, 1), months=2, nth=-1), given_calendar())
    assert cohorts[0].days == (*weekdays("2027-09-27", 4), date(2027, 10, 8))
    assert cohorts[1].days == weekdays("2027-10-25", 5)


def test_a_make_up_saturday_inside_a_cohort_is_one_of_its_working_days(app):
    # The third working Monday of September, six working days: Saturday the 25th is worked.
    calendar = given_calendar()
    cohorts, _ = plan_series(rule(date(2027, 9, 1), nth=3, working_days=6), calendar)
    assert cohorts[0].days == weekdays("2027-09-20", 6)
    assert cohorts[0].ends_on == date(2027, 9, 25)
    # And from the first working Friday of October: the 8th, the make-up Saturday the 9th, Monday the 11th.
    cohorts, _ = plan_series(rule(date(2027, 10, 1), weekday=FRIDAY, working_days=3), calendar)
    assert cohorts[0].days == (date(2027, 10, 8), date(2027, 10, 9), date(2027, 10, 11))


def test_a_cohort_reaching_into_a_year_not_yet_published_says_so(app):
    calendar = given_calendar(unconfirmed=(2028,))
    cohorts, _ = plan_series(rule(date(2027, 11, 1), months=3, weekday=THURSDAY, nth=-1), calendar)
    assert [(c.starts_on, c.ends_on, c.unconfirmed_years) for c in cohorts] == [
        (date(2027, 11, 25), date(2027, 12, 1), ()),
        (date(2027, 12, 30), date(2028, 1, 6), (2028,)),  # the 3rd is New Year's Day in lieu
        (date(2028, 1, 27), date(2028, 2, 2), (2028,)),
    ]
    assert cohorts[1].days == (date(2027, 12, 30), date(2027, 12, 31), *weekdays("2028-01-04", 3))


def test_a_month_with_no_working_monday_is_a_problem_and_has_no_cohort(app):
    every_monday_of_march = "".join(f"2027-03-{day:02} rest 停工\n" for day in (1, 8, 15, 22, 29))
    calendar = given_calendar(every_monday_of_march)
    cohorts, problems = plan_series(rule(date(2027, 2, 1), months=3), calendar)
    assert [c.starts_on for c in cohorts] == [date(2027, 2, 1), date(2027, 4, 5)]
    with force_locale("en"):
        assert [str(p) for p in problems] == ["March 2027 has no first working Monday: no cohort starts that month."]
    assert str(problems[0]).startswith("2027年3月")  # the month in the reader's language, when it is read


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("months", 0, "Months must be a whole number from 1 to 12."),
        ("months", 13, "Months must be a whole number from 1 to 12."),
        ("months", 1.5, "Months must be a whole number from 1 to 12."),
        ("months", True, "Months must be a whole number from 1 to 12."),
        ("weekday", 0, "The weekday must be a whole number from 1 (Monday) to 7 (Sunday)."),
        ("weekday", 8, "The weekday must be a whole number from 1 (Monday) to 7 (Sunday)."),
        ("nth", 0, "The week must be the first, second, third, fourth or last (1 to 4, or -1)."),
        ("nth", 5, "The week must be the first, second, third, fourth or last (1 to 4, or -1)."),
        ("nth", -2, "The week must be the first, second, third, fourth or last (1 to 4, or -1)."),
        ("working_days", 0, "Working days must be a whole number from 1 to 30."),
        ("working_days", 31, "Working days must be a whole number from 1 to 30."),
        ("first_month", "2027-01", "The first month must be a date."),
    ],
)
def test_a_rule_out_of_bounds_is_refused_naming_the_field(app, field, value, message):
    bad = replace(rule(date(2027, 1, 1)), **{field: value})
    with pytest.raises(SeriesError) as refused:
        validate_rule(bad)
    with force_locale("en"):
        assert str(refused.value) == message
    with pytest.raises(SeriesError):
        plan_series(bad, given_calendar())


def test_a_rule_within_bounds_is_returned_as_it_is(app):
    good = rule(date(2027, 1, 1), months=12, weekday=SUNDAY, nth=-1, working_days=30)
    assert validate_rule(good) is good


def session(starts: str, ends: str) -> CohortSession:
    """A curriculum block between two local wall-clock times ("2027-09-06 09:00"), stored in UTC."""
    zone = organisation_zone()
    starts_at, ends_at = (datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC) for text in (starts, ends))
    return CohortSession(title_zh=starts, starts_at=starts_at, ends_at=ends_at)


def test_a_curriculum_moves_day_by_day_onto_the_new_cohorts_working_days_across_a_holiday(app):
    calendar = given_calendar()
    source_days = working_days_between(calendar, date(2027, 9, 6), date(2027, 9, 10))
    assert source_days == list(weekdays("2027-09-06", 5))
    day_one, day_two = session("2027-09-06 09:00", "2027-09-06 12:00"), session("2027-09-07 09:00", "2027-09-07 12:00")
    day_five = session("2027-09-10 13:30", "2027-09-10 17:00")
    # The new cohort: from the last working Thursday of September, two working days either side of National Day.
    cohorts, _ = plan_series(rule(date(2027, 9, 1), weekday=THURSDAY, nth=-1, working_days=2), calendar)
    assert cohorts[0].days == (date(2027, 9, 30), date(2027, 10, 8))
    shifted, left_out = shift_curriculum([day_one, day_two, day_five], source_days, cohorts[0].days, calendar.zone)
    assert [(s.session, s.starts_at, s.ends_at) for s in shifted] == [
        (day_one, datetime(2027, 9, 30, 1, 0, tzinfo=UTC), datetime(2027, 9, 30, 4, 0, tzinfo=UTC)),  # 09:00–12:00
        (day_two, datetime(2027, 10, 8, 1, 0, tzinfo=UTC), datetime(2027, 10, 8, 4, 0, tzinfo=UTC)),
    ]
    assert left_out == 1  # day five has no day in a two-day cohort


def test_a_session_on_a_rest_day_of_the_source_goes_with_the_next_working_day(app):
    calendar = given_calendar()
    source_days = working_days_between(calendar, date(2027, 9, 9), date(2027, 9, 14))  # Thursday to Tuesday
    assert source_days == [date(2027, 9, 9), date(2027, 9, 10), date(2027, 9, 13), date(2027, 9, 14)]
    sunday = session("2027-09-12 10:00", "2027-09-12 11:00")
    night = session("2027-09-13 22:00", "2027-09-14 01:00")  # past midnight: it still ends the next day
    shifted, left_out = shift_curriculum([sunday, night], source_days, weekdays("2027-11-01", 5), calendar.zone)
    assert [(s.starts_at, s.ends_at) for s in shifted] == [
        (datetime(2027, 11, 3, 2, 0, tzinfo=UTC), datetime(2027, 11, 3, 3, 0, tzinfo=UTC)),  # third day, 10–11
        (datetime(2027, 11, 3, 14, 0, tzinfo=UTC), datetime(2027, 11, 3, 17, 0, tzinfo=UTC)),  # 22:00–01:00
    ]
    assert left_out == 0
