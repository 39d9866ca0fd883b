"""Candidates answer back: a question for HR, a request for another training date or a nearer store, and
HR's answer to each, in one thread per candidate (models.threads).

Whatever the candidate asks waits as a *task* in HR's queue: the scan's task rules (services.scan) raise it
at once, escalate it by the work calendar and close it when HR answer; tasks never move the risk tier.
Granting a date moves the candidate through the one assignment service (services.cohorts), which tells
them; every other answer is one essential message through the outbox. Each answer is sent exactly once:
a question or request is settled by one conditional UPDATE, so a second answer (a double tap, a
colleague at the same moment) is refused and sends nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Candidate, Cohort, Reason, Store, ThreadMessage, User
from portal.models.base import rows_affected
from portal.models.candidates import Status
from portal.models.cohorts import CohortStatus
from portal.models.outbox import LINK_PLACEHOLDER, MessageKind
from portal.models.threads import REQUESTS, AskState, Topic
from portal.services.audit import record_on_candidate
from portal.services.cohorts import TAKES_A_PLACE, CohortError, place_in_cohort
from portal.services.outbox import BY_EMAIL_FIRST, message_locale, queue_message
from portal.services.scan import rescan_candidate
from portal.services.stores import StoreError, assign_store
from portal.services.worktime import WorkCalendar, organisation_date

BODY_MAX = 1000  # characters of one message: a thread is for short questions, not letters
DISTRICT_MAX = 60  # as Candidate.district and Store.district
LATER_COHORTS_SHOWN = 6


class ThreadError(ValueError):
    """The message cannot be sent or the answer given, and nothing changed; ``field`` names the input at fault."""

    def __init__(self, message, field: str | None = None) -> None:
        super().__init__(str(message))
        self.field = field


class TooManyMessages(ThreadError):
    """The candidate wrote THREAD_MESSAGES_PER_HOUR messages in the last hour; ``again_at``: when they may again."""

    def __init__(self, again_at: datetime) -> None:
        super().__init__(_l("Thank you, HR have your messages and will answer them."))
        self.again_at = again_at


@dataclass(frozen=True)
class Asked:
    message: ThreadMessage
    # When HR's working hours begin, if the candidate wrote outside them: "expect an answer from …".
    answer_from: datetime | None


# ------------------------------------------------------------------------------------------------
# The candidate's side
# ------------------------------------------------------------------------------------------------


NO_QUESTION = _l("Write your question first.")


def _text(body: str | None, *, required: bool, empty=NO_QUESTION) -> str:
    """What was typed, as typed (a browser's CR LF made one line break); refused when empty (``empty`` says so)
    or too long."""
    text = (body or "").replace("\r\n", "\n")
    if required and not text.strip():
        raise ThreadError(empty, "body")
    if len(text) > BODY_MAX:
        raise ThreadError(
            _l("At most %(max)d characters, please; this has %(count)d.", max=BODY_MAX, count=len(text)), "body"
        )
    return text if text.strip() else ""


def _check_pace(candidate_id: int, now: datetime) -> None:
    """At most THREAD_MESSAGES_PER_HOUR in the last hour, counted from the thread itself (no Redis needed)."""
    limit = current_app.config["THREAD_MESSAGES_PER_HOUR"]
    recent = db.session.scalars(
        sa.select(ThreadMessage.written_at)
        .where(
            ThreadMessage.candidate_id == candidate_id,
            ThreadMessage.written_at > now - timedelta(hours=1),
            ThreadMessage.topic != Topic.REPLY,
        )
        .order_by(ThreadMessage.written_at)
    ).all()
    if len(recent) >= limit:
        raise TooManyMessages(recent[len(recent) - limit] + timedelta(hours=1))


def _hold(candidate_id: int) -> None:
    """Write the candidate's row (changing nothing) before counting what they sent: a second message sent at the
    same moment (a double tap) waits for this one's transaction and then counts it — a row lock on
    PostgreSQL, the write lock on SQLite — so neither the hourly limit nor "one waiting request" is passed."""
    db.session.execute(sa.update(Candidate).where(Candidate.id == candidate_id).values(id=Candidate.id))


def _waiting_request(candidate_id: int, topic: str) -> ThreadMessage | None:
    return db.session.scalars(
        sa.select(ThreadMessage).where(
            ThreadMessage.candidate_id == candidate_id,
            ThreadMessage.topic == topic,
            ThreadMessage.state == AskState.WAITING,
        )
    ).first()


def later_cohorts(cohort_id: int | None, now: datetime) -> list[sa.Row]:
    """(id, name, starts_on) of the open cohorts a member of ``cohort_id`` may ask to move to: starting after
    theirs (or after today), with a place left, soonest first."""
    today = organisation_date(now)
    own = db.session.get(Cohort, cohort_id) if cohort_id else None
    after = max(today, own.starts_on) if own is not None and not own.cancelled else today
    taken = (
        sa.select(sa.func.count())
        .where(Candidate.cohort_id == Cohort.id, Candidate.status.in_(TAKES_A_PLACE))
        .correlate(Cohort)
        .scalar_subquery()
    )
    return list(
        db.session.execute(
            sa.select(Cohort.id, Cohort.name, Cohort.starts_on)
            .where(
                Cohort.starts_on > after,
                Cohort.status == CohortStatus.OPEN,
                Cohort.id != (cohort_id or 0),
                taken < Cohort.capacity,
            )
            .order_by(Cohort.starts_on, Cohort.id)
            .limit(LATER_COHORTS_SHOWN)
        )
    )


def may_ask_for_another_date(status: str, cohort, now: datetime) -> bool:
    """Someone active placed in a ``cohort`` (a model or a row) that has not begun, or was cancelled."""
    if status != Status.ACTIVE or cohort is None:
        return False
    return cohort.starts_on > organisation_date(now) or cohort.status == CohortStatus.CANCELLED


def ask(
    candidate: Candidate,
    topic: str,
    *,
    body: str | None,
    now: datetime,
    reason_id: int | None = None,
    preferred_cohort_id: int | None = None,
    district: str | None = None,
) -> Asked:
    """The candidate asks HR something: a question, another date (with a reason from the shared list and
    perhaps a later cohort with places left) or a nearer store (with their district). Flushed; it is a task
    in HR's queue at once."""
    if topic not in (Topic.QUESTION, *REQUESTS):
        raise ValueError(topic)
    if candidate.status != Status.ACTIVE:
        raise ThreadError(_l("Your page no longer takes messages. Please call HR."))
    _hold(candidate.id)
    _check_pace(candidate.id, now)
    message = ThreadMessage(candidate_id=candidate.id, topic=topic, written_at=now, state=AskState.WAITING)
    message.body = _text(body, required=topic == Topic.QUESTION)
    if topic in REQUESTS and _waiting_request(candidate.id, topic) is not None:
        raise ThreadError(_l("You asked already: HR will answer that first."))
    if topic == Topic.ANOTHER_DATE:
        _check_date_request(candidate, message, reason_id, preferred_cohort_id, now)
    elif topic == Topic.STORE_TOO_FAR:
        _check_store_request(candidate, message, district)
    db.session.add(message)
    db.session.flush()
    rescan_candidate(candidate.id, now)  # the task, at once
    return Asked(message, answer_expected_from(now))


def _check_date_request(
    candidate: Candidate, message: ThreadMessage, reason_id: int | None, preferred_cohort_id: int | None, now: datetime
) -> None:
    cohort = db.session.get(Cohort, candidate.cohort_id) if candidate.cohort_id else None
    if not may_ask_for_another_date(candidate.status, cohort, now):
        raise ThreadError(_l("Your training has begun: please call HR to talk about your dates."))
    reason = db.session.get(Reason, reason_id) if reason_id else None
    if reason is None or reason.retired_at is not None:
        raise ThreadError(_l("Choose why you need another date."), "reason")
    later = {c.id for c in later_cohorts(candidate.cohort_id, now)}
    if preferred_cohort_id is not None and preferred_cohort_id not in later:
        raise ThreadError(_l("That training is full or no longer open: choose another, or leave it to HR."), "cohort")
    message.reason_id, message.preferred_cohort_id = reason.id, preferred_cohort_id


def _check_store_request(candidate: Candidate, message: ThreadMessage, district: str | None) -> None:
    if candidate.store_id is None:
        raise ThreadError(_l("You have no store yet: HR will choose one with you."))
    district = " ".join((district or "").split())
    if not district:
        raise ThreadError(_l("Tell us your district, so HR can find a store near you."), "district")
    if len(district) > DISTRICT_MAX:
        raise ThreadError(_l("At most %(max)d characters, please.", max=DISTRICT_MAX), "district")
    message.district = district


def answer_expected_from(now: datetime) -> datetime | None:
    """When HR's working hours begin next, if they are off at ``now`` (the next working morning by the work
    calendar, a make-up Saturday included); None while they are at work."""
    opens = WorkCalendar(now).working_from(now)
    return opens if opens > now else None


def thread_of(candidate_id: int) -> sa.Select:
    """A candidate's thread, newest first, with what each message names (one statement: the joins are
    many-to-one)."""
    return (
        sa.select(ThreadMessage)
        .options(
            sa.orm.joinedload(ThreadMessage.author),
            sa.orm.joinedload(ThreadMessage.reason),
            sa.orm.joinedload(ThreadMessage.preferred_cohort),
            sa.orm.joinedload(ThreadMessage.granted_cohort),
            sa.orm.joinedload(ThreadMessage.granted_store),
        )
        .where(ThreadMessage.candidate_id == candidate_id)
        .order_by(ThreadMessage.written_at.desc(), ThreadMessage.id.desc())
    )


# ------------------------------------------------------------------------------------------------
# HR's side
# ------------------------------------------------------------------------------------------------


def _settle(asked: ThreadMessage, state: AskState, now: datetime) -> None:
    """Mark what the candidate asked as settled, if nobody settled it first (a second tab, a colleague)."""
    settled = db.session.execute(
        sa.update(ThreadMessage)
        .where(ThreadMessage.id == asked.id, ThreadMessage.state == AskState.WAITING)
        .values(state=state, settled_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_affected(settled) != 1:
        db.session.refresh(asked)
        raise ThreadError(_l("This was answered already: the page shows the answer."))
    db.session.refresh(asked)


def _reply(asked: ThreadMessage, user: User, body: str, now: datetime, **granted) -> ThreadMessage:
    reply = ThreadMessage(
        candidate_id=asked.candidate_id,
        topic=Topic.REPLY,
        body=body,
        written_at=now,
        author_id=user.id,
        answers_id=asked.id,
        **granted,
    )
    db.session.add(reply)
    db.session.flush()
    return reply


def _tell(candidate: Candidate, reply: ThreadMessage, subject, lead, now: datetime) -> None:
    """HR's answer as one essential message (email, else a text message saying there is an answer), worded in
    the candidate's language (``subject`` and ``lead``: lazy strings, or words already in it)."""
    with force_locale(message_locale(candidate)):
        body = gettext("Hello %(name)s,", name=candidate.name) + "\n\n" + str(lead)
        if reply.body:
            body += "\n\n" + reply.body
        body += "\n\n" + gettext("Your page has the whole conversation:") + "\n" + LINK_PLACEHOLDER
        subject = str(subject)
    queue_message(
        candidate,
        kind=MessageKind.HR_REPLY,
        key=f"reply:{reply.id}",
        subject=subject,
        body=body,
        now=now,
        created_by_id=reply.author_id,
        channels=BY_EMAIL_FIRST,
        sms_template=current_app.config["SMS_TEMPLATE_HR_REPLY"],
        sms_params={"name": candidate.name, "link": LINK_PLACEHOLDER},
    )


def _require_active(candidate: Candidate) -> None:
    if candidate.status != Status.ACTIVE:
        raise ThreadError(_l("They have started or left: nothing is sent to them now."))


def answer_question(question: ThreadMessage, user: User, body: str | None, *, now: datetime) -> ThreadMessage:
    """HR answer a question: the answer shows on the candidate's page and goes to them (essential)."""
    if question.topic != Topic.QUESTION:
        raise ThreadError(_l("This is a request: accept or decline it."))
    candidate = db.session.get_one(Candidate, question.candidate_id)
    _require_active(candidate)
    text = _text(body, required=True, empty=_l("Write your answer first."))
    _settle(question, AskState.ANSWERED, now)
    reply = _reply(question, user, text, now)
    _tell(candidate, reply, _l("HR answered your question"), _l("HR answered your question:"), now)
    record_on_candidate("thread.answer", candidate.id, actor_user_id=user.id, detail=f"question {question.id}")
    rescan_candidate(candidate.id, now)
    return reply


def accept_request(
    asked: ThreadMessage,
    user: User,
    *,
    cohort_id: int | None = None,
    store_id: int | None = None,
    body: str | None = "",
    now: datetime,
) -> ThreadMessage:
    """Grant a request: another date moves the candidate to ``cohort_id`` through the assignment service (which
    tells them); a nearer store assigns ``store_id`` and tells them. Refused, nothing changed, when the cohort
    or store cannot take them."""
    if asked.topic not in REQUESTS:
        raise ThreadError(_l("This is a question: answer it."))
    candidate = db.session.get_one(Candidate, asked.candidate_id)
    _require_active(candidate)
    text = _text(body, required=False)
    _settle(asked, AskState.ACCEPTED, now)
    if asked.topic == Topic.ANOTHER_DATE:
        if cohort_id is None or cohort_id == candidate.cohort_id:
            raise ThreadError(_l("Choose the training they move to, or decline."), "cohort")
        try:
            place_in_cohort(candidate, cohort_id, actor_id=user.id, now=now, waitlist=False, note=text)
        except CohortError as refusal:
            raise ThreadError(refusal, "cohort") from refusal
        # No message of ours: the move's own tells them, with HR's word in it.
        _reply(asked, user, text, now, granted_cohort_id=cohort_id)
    else:
        if store_id is None or store_id == candidate.store_id:
            raise ThreadError(_l("Choose the store they join instead, or decline."), "store")
        try:
            assign_store(candidate, store_id, actor_id=user.id, now=now)
        except StoreError as refusal:
            raise ThreadError(refusal, "store") from refusal
        if asked.district and not candidate.district:
            candidate.district = asked.district
        store = db.session.get_one(Store, store_id)
        reply = _reply(asked, user, text, now, granted_store_id=store_id)
        with force_locale(message_locale(candidate)):
            lead = gettext("After training you will join %(store)s.", store=store.name)
            if store.address:
                lead += " " + gettext("Address: %(address)s", address=store.address)
        _tell(candidate, reply, _l("HR found you another store"), lead, now)
    record_on_candidate("thread.accept", candidate.id, actor_user_id=user.id, detail=f"request {asked.id}")
    rescan_candidate(candidate.id, now)
    return asked


def decline_request(asked: ThreadMessage, user: User, body: str | None, *, now: datetime) -> ThreadMessage:
    """Turn a request down with a reply the candidate sees (and receives): they keep what they had."""
    if asked.topic not in REQUESTS:
        raise ThreadError(_l("This is a question: answer it."))
    candidate = db.session.get_one(Candidate, asked.candidate_id)
    _require_active(candidate)
    text = _text(body, required=True, empty=_l("Tell them why: they will read it."))
    _settle(asked, AskState.DECLINED, now)
    reply = _reply(asked, user, text, now)
    _tell(candidate, reply, _l("HR answered your request"), _l("HR answered your request:"), now)
    record_on_candidate("thread.decline", candidate.id, actor_user_id=user.id, detail=f"request {asked.id}")
    rescan_candidate(candidate.id, now)
    return reply


def withdraw_waiting(candidate_id: int, now: datetime) -> None:
    """They started or left: nothing of theirs waits for an answer any more."""
    db.session.execute(
        sa.update(ThreadMessage)
        .where(ThreadMessage.candidate_id == candidate_id, ThreadMessage.state == AskState.WAITING)
        .values(state=AskState.WITHDRAWN, settled_at=now)
        .execution_options(synchronize_session=False)
    )


def known_districts() -> list[str]:
    """The districts stores are in: what a candidate picks from (they may type another)."""
    query = sa.select(Store.district).where(Store.district != "").distinct().order_by(Store.district)
    return list(db.session.scalars(query))
