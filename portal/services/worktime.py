"""Working hours in the organisation's time zone: when "the start of the day" is (WORKDAY_START).

The work calendar (holidays, make-up working days) will live here too, so that send windows and
working-hour rules share one answer.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app


def organisation_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def organisation_date(now: datetime) -> date:
    """The day it is at ``now`` as the organisation counts days."""
    return now.astimezone(organisation_zone()).date()


def start_of_working_day(day: date) -> datetime:
    """WORKDAY_START (e.g. 09:00) on ``day`` in the organisation's time zone."""
    return datetime.combine(day, time.fromisoformat(current_app.config["WORKDAY_START"]), tzinfo=organisation_zone())


def next_morning(now: datetime) -> datetime:
    """The start of tomorrow's working day, tomorrow as the organisation counts days."""
    return start_of_working_day(now.astimezone(organisation_zone()).date() + timedelta(days=1))
