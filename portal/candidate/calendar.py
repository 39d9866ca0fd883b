"""A candidate's training as an RFC 5545 calendar (built with the icalendar library), for the one-off download
and the subscription URL alike.

A subscribed phone calendar matches events by UID and keeps the highest SEQUENCE, so: each event's UID is
stable per candidate and session; its SEQUENCE is the cohort's revision plus the candidate's (both only ever
grow, so any change raises it); a removed session, a cancelled cohort and every cohort the candidate was moved
out of are sent as STATUS:CANCELLED, so that the phone drops them instead of keeping stale dates.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import get_locale, gettext
from icalendar import Calendar, Event

from portal.extensions import db
from portal.i18n import localized
from portal.models import Candidate, Cohort, CohortSession, PastMembership
from portal.models.cohorts import one_line

PAST_COHORTS_SHOWN = 10  # cohorts they were moved out of, newest first: enough for any phone to catch up


def candidate_calendar(candidate_id: int, now: datetime) -> bytes:
    candidate = db.session.get_one(Candidate, candidate_id)
    calendar = Calendar()
    calendar.add("prodid", "-//Keepwarm//Candidate portal//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", gettext("My training"))
    # How often a subscribed calendar should look again (RFC 7986, and the older name Outlook and Apple read).
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    past = db.session.scalars(
        sa.select(Cohort)
        .join(PastMembership, PastMembership.cohort_id == Cohort.id)
        .where(PastMembership.candidate_id == candidate_id)
        .order_by(PastMembership.left_at.desc())
        .limit(PAST_COHORTS_SHOWN)
    ).all()
    for cohort in past:
        _add_cohort(calendar, candidate, cohort, now, moved_out=True)
    if candidate.cohort_id is not None:
        _add_cohort(calendar, candidate, db.session.get_one(Cohort, candidate.cohort_id), now, moved_out=False)
    return calendar.to_ical()


def _add_cohort(calendar: Calendar, candidate: Candidate, cohort: Cohort, now: datetime, *, moved_out: bool) -> None:
    """One event per curriculum session, or one all-day event spanning the cohort while it has none."""
    sessions = db.session.scalars(
        sa.select(CohortSession).where(CohortSession.cohort_id == cohort.id).order_by(CohortSession.starts_at)
    ).all()
    locale = str(get_locale())
    place = localized(cohort, "place", locale)
    location = f"{place}, {cohort.address}" if cohort.address else place
    host = current_app.config["PUBLIC_BASE_URL"].split("://", 1)[-1].split("/", 1)[0]
    name = one_line(cohort.name)  # older rows may hold a line break; a calendar property may not
    sequence = cohort.revision + candidate.calendar_revision
    cancelled = moved_out or cohort.cancelled

    def event(uid: str, summary: str, start, end, *, gone: bool) -> Event:
        item = Event()
        item.add("uid", f"keepwarm-{candidate.id}-{uid}@{host}")
        item.add("dtstamp", now)
        item.add("sequence", sequence)
        item.add("status", "CANCELLED" if gone else "CONFIRMED")
        item.add("summary", summary)
        item.add("dtstart", start)
        item.add("dtend", end)
        item.add("location", location)
        calendar.add_component(item)
        return item

    live = [session for session in sessions if session.removed_at is None]
    # The all-day event while it has no sessions; once sessions are planned, its cancellation (the phone may hold it).
    event(
        f"cohort-{cohort.id}", name, cohort.starts_on, cohort.ends_on + timedelta(days=1), gone=cancelled or bool(live)
    )
    for session in sessions:
        item = event(
            f"session-{session.id}",
            f"{name}: {localized(session, 'title', locale)}",
            session.starts_at,
            session.ends_at,
            gone=cancelled or session.removed_at is not None,
        )
        detail = "\n".join(
            part
            for part in (
                localized(session, "detail", locale),
                gettext("Trainer: %(name)s", name=session.trainer) if session.trainer else "",
                gettext("Room: %(room)s", room=session.room) if session.room else "",
            )
            if part
        )
        if detail:
            item.add("description", detail)
