"""The "Ask HR" section of the candidate page: the thread with HR and the forms to write to them (a question,
another date, a store too far). The routes are in views (/me/ask, /me/thread).
"""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _

from portal.candidate.queries import shared_cohort, shared_content
from portal.extensions import db
from portal.models import Reason
from portal.models.threads import REQUESTS, Topic
from portal.services.reasons import reasons_in_order
from portal.services.threads import (
    BODY_MAX,
    DISTRICT_MAX,
    ThreadError,
    TooManyMessages,
    answer_expected_from,
    known_districts,
    later_cohorts,
    may_ask_for_another_date,
    thread_of,
)
from portal.templating import local_datetime

THREAD_ON_PAGE = 10  # the newest messages on the page; /me/thread has them all, paged
THREAD_PER_PAGE = 20
ASKABLE = (Topic.QUESTION, *REQUESTS)


@dataclass
class Refused:
    """A refused form: which one, why, and what was typed (shown again, never lost)."""

    topic: str
    error: str
    field: str | None
    typed: dict


def thread_context(candidate, now: datetime, *, refused: Refused | None = None, sent: str | None = None) -> dict:
    """What the "Ask HR" section shows: the newest messages (oldest first), when HR will answer if they are
    off now, and the forms the candidate may use (another date before their training begins, a nearer store
    once they have one; one waiting request of each kind at a time)."""
    newest: list = []
    if candidate.has_thread:  # most never write: they pay no statement for it
        newest = list(db.session.scalars(thread_of(candidate.candidate_id).limit(THREAD_ON_PAGE + 1)))
    messages = list(reversed(newest[:THREAD_ON_PAGE]))
    waiting = {message.topic for message in newest if message.waiting}
    cohort = shared_cohort(candidate.cohort_id)[0] if candidate.cohort_id is not None else None
    date_form = Topic.ANOTHER_DATE not in waiting and may_ask_for_another_date(candidate.status, cohort, now)
    store_form = Topic.STORE_TOO_FAR not in waiting and candidate.store_name is not None
    # The choices are the same for everyone (a cohort's later cohorts, the reasons, the districts): shared
    # content, a few seconds stale at most; what is chosen is checked again when it is sent.
    shared = shared_content()
    return {
        "thread": messages,
        "thread_more": len(newest) > THREAD_ON_PAGE,
        "answer_from": answer_expected_from(now) if waiting else None,
        "date_form": date_form,
        "later_cohorts": (
            shared.get(("later_cohorts", candidate.cohort_id), lambda: later_cohorts(candidate.cohort_id, now))
            if date_form
            else []
        ),
        "date_reasons": shared.get("reasons", _active_reasons) if date_form else [],
        "store_form": store_form,
        "districts": shared.get("districts", known_districts) if store_form else [],
        "refused": refused,
        "sent": sent,
        "body_max": BODY_MAX,
        "district_max": DISTRICT_MAX,
    }


def _active_reasons() -> list:
    """The active reasons as rows (shared content outlives a session: no ORM objects in it)."""
    query = reasons_in_order(active_only=True).with_only_columns(Reason.id, Reason.label_zh, Reason.label_en)
    return list(db.session.execute(query).all())


def refused_form(topic: str, error: ThreadError, typed: dict) -> Refused:
    """A refused form as the section shows it; too many messages says when they may write again."""
    message = str(error)
    if isinstance(error, TooManyMessages):
        message += " " + _("You can write again at %(time)s.", time=local_datetime(error.again_at))
    return Refused(topic, message, error.field, typed)
