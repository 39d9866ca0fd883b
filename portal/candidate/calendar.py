"""The cohort schedule as an RFC 5545 calendar (built with the icalendar library)."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import get_locale
from icalendar import Calendar, Event

from portal.extensions import db
from portal.i18n import localized
from portal.models import Cohort, CohortSession
from portal.models.cohorts import one_line


def cohort_calendar(cohort_id: int, now: datetime) -> bytes:
    """One event per curriculum session, or one all-day event spanning the cohort when it has none."""
    cohort = db.session.get_one(Cohort, cohort_id)
    sessions = db.session.scalars(
        sa.select(CohortSession).where(CohortSession.cohort_id == cohort_id).order_by(CohortSession.starts_at)
    ).all()
    locale = str(get_locale())
    place = localized(cohort, "place", locale)
    location = f"{place}, {cohort.address}" if cohort.address else place
    host = current_app.config["PUBLIC_BASE_URL"].split("://", 1)[-1].split("/", 1)[0]

    calendar = Calendar()
    calendar.add("prodid", "-//Keepwarm//Candidate portal//EN")
    calendar.add("version", "2.0")
    name = one_line(cohort.name)  # older rows may hold a line break; a calendar property may not
    calendar.add("x-wr-calname", name)
    if not sessions:
        event = Event()
        event.add("uid", f"cohort-{cohort.id}@{host}")
        event.add("dtstamp", now)
        event.add("summary", name)
        event.add("dtstart", cohort.starts_on)
        event.add("dtend", cohort.ends_on + timedelta(days=1))
        event.add("location", location)
        calendar.add_component(event)
    for session in sessions:
        event = Event()
        event.add("uid", f"cohort-{cohort.id}-session-{session.id}@{host}")
        event.add("dtstamp", now)
        event.add("summary", f"{name}: {localized(session, 'title', locale)}")
        event.add("dtstart", session.starts_at)
        event.add("dtend", session.ends_at)
        event.add("location", location)
        detail = localized(session, "detail", locale)
        if detail:
            event.add("description", detail)
        calendar.add_component(event)
    return calendar.to_ical()
