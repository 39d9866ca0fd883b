"""The organisation's work calendar: the days that break the weekly pattern, and which years are known.

China moves working days around its public holidays (调休): a holiday week is paid for with a Saturday or
a Sunday worked. So a calendar is the weekly rest days plus the exceptions, both ways.
"""

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, one_of


class DayKind(StrEnum):
    REST = "rest"  # a public holiday, or a day off in lieu, on what would be a working day
    WORK = "work"  # a make-up working day on what would be a rest day


class CalendarSource(StrEnum):
    LIBRARY = "library"  # the holidays package (may guess a year not yet published)
    FILE = "file"  # imported by an admin from the published schedule
    ADMIN = "admin"  # edited by hand


class CalendarDay(Base):
    """A day whose working status is not the weekly pattern's, with its name ("春节", "调休上班")."""

    __tablename__ = "calendar_day"
    __table_args__ = (one_of("kind", DayKind),)

    day: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    name: Mapped[str] = mapped_column(sa.String(120), default="")


class CalendarYear(Base):
    """A year of the calendar and how far to trust it: ``confirmed`` once its make-up working days are known
    (the library lists them only for years the State Council has published) or an admin imported or edited it."""

    __tablename__ = "calendar_year"
    __table_args__ = (one_of("source", CalendarSource),)

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(sa.String(8))
    confirmed: Mapped[bool] = mapped_column(default=False)
    loaded_at: Mapped[datetime]
