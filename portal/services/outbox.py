"""The outbox: queue a message with its cause, claim due ones, send them, and keep what happened.

Delivery is at least once. A row is committed as sent only after the server accepted it, so a sender that
dies between the two sends it again once its claim (OUTBOX_LEASE_SECONDS) runs out, with the same
Message-ID, by which a mail client or a person recognises the repeat. A sender sends a row only while its
claim holds (past it, another sender may have claimed the row), and only in the row's send window: one
claimed after its window shut, or retried after a delay that ends outside it, waits for the next.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from jinja2 import TemplateError

from portal.extensions import db
from portal.models import Candidate, PortalLink, utcnow
from portal.models.base import rows_affected
from portal.models.candidates import Channel, Status
from portal.models.outbox import LINK_PLACEHOLDER, MessageKind, MessageStatus, Outbox
from portal.services import dialect_insert, expire_loaded
from portal.services.audit import record_on_candidate
from portal.services.channels import MessageChannel, Undelivered, open_channels, sms_available
from portal.services.links import issue_link, public_link_url
from portal.services.worktime import WorkCalendar

# Seconds before attempt 2, 3, …; after the last, the row fails with the last reason.
RETRY_DELAYS = (60, 300, 1800, 7200, 21600)
# Essential is a kind, never a checkbox: what a candidate must hear even on a holiday (never at night).
ESSENTIAL_KINDS = frozenset(
    {MessageKind.LINK_ASKED, MessageKind.TRAINING_CHANGE, MessageKind.OFFER_DECISION, MessageKind.HR_REPLY}
)


def queue_message(
    candidate: Candidate,
    *,
    kind: MessageKind,
    key: str,
    subject: str,
    body: str,
    now: datetime,
    created_by_id: int | None = None,
    hand_sent: bool = False,
    urgent: bool = False,
    channels: tuple[str, ...] = (Channel.EMAIL,),
    sms_template: str = "",
    sms_params: dict[str, str] | None = None,
    cohort_id: int | None = None,
) -> Outbox:
    """A message for ``candidate``, written in the caller's transaction (a rolled-back cause sends nothing).

    ``channels`` in order: the next is tried only when one has no address or refused for good. A text
    message is ``sms_template`` with ``sms_params`` (LINK_PLACEHOLDER where the link goes).
    ``cohort_id``: the message is about that cohort (a move out of it drops it while it waits).
    ``key`` makes it once only: queued again, the first row is returned. Its due time is the send window's
    (the work calendar): essential messages, and hand-sent ones HR marked urgent, any day but never at night;
    the rest in working hours. Essential and hand-sent messages go before automated ones.
    """
    essential = kind in ESSENTIAL_KINDS
    values = {
        "idempotency_key": key,
        "candidate_id": candidate.id,
        "kind": kind,
        "essential": essential,
        "urgent": urgent,
        "priority": 0 if essential or hand_sent else 1,
        "channels": ",".join(channels),
        "locale": message_locale(candidate),
        "subject": subject,
        "body": body,
        "sms_template": sms_template,
        "sms_params": sms_params or {},
        "cohort_id": cohort_id,
        "status": MessageStatus.QUEUED,
        "attempts": 0,
        "due_at": WorkCalendar(now).send_at(now, essential=essential or urgent).at,
        "created_at": now,
        "created_by_id": created_by_id,
        "reason": "",
    }
    # ON CONFLICT DO NOTHING: the same key queued again, even at the same moment by another request, keeps
    # the first row (no savepoint: SQLite's driver commits when its outermost one is released).
    db.session.execute(
        dialect_insert(Outbox).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    return db.session.scalars(sa.select(Outbox).where(Outbox.idempotency_key == key)).one()


def _due(now: datetime) -> sa.ColumnElement[bool]:
    """A row to send now: queued and its time has come, or claimed by a sender whose lease ran out."""
    return sa.or_(
        sa.and_(Outbox.status == MessageStatus.QUEUED, Outbox.due_at <= now),
        sa.and_(Outbox.status == MessageStatus.SENDING, Outbox.lease_until <= now),
    )


def claim_due(now: datetime, *, limit: int, lease_until: datetime) -> list[int]:
    """Take up to ``limit`` due rows for this sender until ``lease_until``, most pressing first; their ids.

    Due: queued rows whose time has come, and rows a sender claimed and never finished (its lease ran
    out). Several senders never take the same row: PostgreSQL skips rows another claim has locked; SQLite
    claims in one UPDATE, and one writer at a time.
    """
    due = _due(now)
    chosen = sa.select(Outbox.id).where(due).order_by(Outbox.priority, Outbox.due_at, Outbox.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    # Chosen once, then updated: as "IN (subquery)" PostgreSQL may run the subquery again for each row it
    # updates, and a re-run skips the rows this claim just locked and takes the next (a batch of 1 took 2).
    once = chosen.cte("chosen").prefix_with("MATERIALIZED")
    claimed = db.session.scalars(
        sa.update(Outbox)
        .where(Outbox.id.in_(sa.select(once.c.id)), due)
        .values(status=MessageStatus.SENDING, lease_until=lease_until, attempts=Outbox.attempts + 1)
        .returning(Outbox.id),
        execution_options={"synchronize_session": False},
    ).all()
    # Rows this session already holds (the one that queued them, say) are read again: the claim changed them.
    expire_loaded(Outbox, set(claimed))
    return sorted(claimed)


def due_now(now: datetime) -> tuple[int, datetime | None]:
    """How many messages are due and not gone, and since when the oldest has been (for /healthz)."""
    due = _due(now)
    count, oldest = db.session.execute(sa.select(sa.func.count(), sa.func.min(Outbox.due_at)).where(due)).one()
    return count, oldest


@dataclass
class Delivery:
    """What one run of the sender did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    dropped: int = 0
    waiting: int = 0  # claimed after their window shut (the sender was late): queued again for it
    reasons: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed + self.dropped + self.waiting


def send_due(*, limit: int | None = None, clock=utcnow) -> Delivery:
    """Claim a batch of due rows and send each through its channels, committing each as it goes."""
    config = current_app.config
    done = Delivery()
    now = clock()
    lease_until = now + timedelta(seconds=config["OUTBOX_LEASE_SECONDS"])
    ids = claim_due(now, limit=limit or config["OUTBOX_BATCH"], lease_until=lease_until)
    db.session.commit()
    if not ids:
        return done
    calendar = WorkCalendar(now)
    channels = open_channels()
    try:
        for row_id in ids:
            row = _if_still_claimed(row_id, lease_until, clock())
            if row is not None:
                _send_one(row, channels, calendar, clock, done)
            db.session.commit()
    finally:
        for channel in channels.values():
            channel.close()
    return done


def _if_still_claimed(row_id: int, lease_until: datetime, now: datetime) -> Outbox | None:
    """The row, read again (each commit expires it), while this sender's claim holds: once a batch runs past
    its lease another sender may claim the row, and both would send it."""
    row = db.session.get_one(Outbox, row_id)
    if row.status == MessageStatus.SENDING and row.lease_until == lease_until and now < lease_until:
        return row
    return None


def _send_one(row: Outbox, channels: dict[str, MessageChannel], calendar: WorkCalendar, clock, done: Delivery) -> None:
    """Through the row's channels in order: the next only when one has no address or refused for good."""
    now = clock()
    opens = _window_opens(calendar, row, now)
    if opens > now:  # due in its window but claimed after it shut (the sender or Redis was down): not at night
        _wait_for_window(row, opens, done)
        return
    candidate = db.session.get_one(Candidate, row.candidate_id)
    if candidate.status == Status.LEFT:
        _finish(row, MessageStatus.DROPPED, "the candidate left", done)
        return
    if row.automation_id is not None or not row.body:  # an automation's: still wanted? then its words
        from portal.services.automations import prepare

        try:
            unwanted = prepare(row, candidate, clock())
        except TemplateError as error:
            _finish(row, MessageStatus.FAILED, f"template: {error}", done)
            return
        if unwanted:
            _finish(row, MessageStatus.DROPPED, unwanted, done)
            return
    passed_over: list[str] = []  # why each earlier channel did not deliver, in order
    refused = False  # one of them refused for good (else they only had no address)
    for name in row.channels.split(","):
        channel = channels[name]
        why = channel.missing(candidate)
        if why:
            passed_over.append(why)
            continue
        link_url = _link_for(row, candidate, name, clock()) if _carries_link(row) else None
        try:
            channel.send(row, candidate, link_url)
        except Undelivered as failure:
            if not failure.permanent:
                _retry_later(row, failure.reason, calendar, clock(), done, counted=failure.counted)
                return
            passed_over.append(failure.reason)
            refused = True
            continue
        # Sent; why the channels before this one did not deliver stays (an address that bounced is worth knowing).
        row.status, row.sent_at, row.channel, row.lease_until, row.reason = (
            MessageStatus.SENT,
            clock(),
            name,
            None,
            "; ".join(passed_over),
        )
        done.sent += 1
        return
    _finish(row, MessageStatus.FAILED if refused else MessageStatus.DROPPED, "; ".join(passed_over), done)


def _carries_link(row: Outbox) -> bool:
    return LINK_PLACEHOLDER in row.body or any(LINK_PLACEHOLDER in str(v) for v in row.sms_params.values())


def _link_for(row: Outbox, candidate: Candidate, channel: str, now: datetime) -> str:
    """The message's own link, committed before the SMTP or HTTP call. A retry or the next channel revokes
    the one issued for an attempt that did not deliver it (a link only ever reaches one delivery)."""
    if row.link_id is not None:
        db.session.execute(sa.update(PortalLink).where(PortalLink.id == row.link_id).values(revoked_at=now))
    link, token = issue_link(candidate, channel, now=now, issued_by_id=row.created_by_id, rearm=False)
    row.link_id = link.id
    db.session.commit()
    return public_link_url(token)


def _finish(row: Outbox, status: MessageStatus, reason: str, done: Delivery) -> None:
    row.status, row.reason, row.lease_until = status, reason, None
    if status == MessageStatus.FAILED:
        done.failed += 1
        done.reasons.append(reason)
    else:
        done.dropped += 1


def _retry_later(
    row: Outbox, reason: str, calendar: WorkCalendar, now: datetime, done: Delivery, *, counted: bool = True
) -> None:
    """Back to the queue after the next delay (in the row's window), or failed once the attempts are used up."""
    if not counted:  # claimed but never tried: the claim took an attempt it did not use
        row.attempts -= 1
    row.reason, row.lease_until = reason, None
    if row.attempts > len(RETRY_DELAYS):
        _finish(row, MessageStatus.FAILED, reason, done)
        return
    delay = timedelta(seconds=RETRY_DELAYS[max(row.attempts - 1, 0)])
    row.status, row.due_at = MessageStatus.QUEUED, _window_opens(calendar, row, now + delay)
    done.retrying += 1


def _wait_for_window(row: Outbox, opens: datetime, done: Delivery) -> None:
    """Queued again until its window opens, as if never claimed: nothing was tried, the reason stays."""
    row.status, row.due_at, row.lease_until = MessageStatus.QUEUED, opens, None
    row.attempts -= 1
    done.waiting += 1


def _window_opens(calendar: WorkCalendar, row: Outbox, at: datetime) -> datetime:
    """The first moment from ``at`` the row may go (as queue_message chose its due time)."""
    return calendar.send_at(at, essential=row.essential or row.urgent).at


class OutboxError(ValueError):
    """A message that cannot be queued; the message says why."""


NOTE_MAX_CHARACTERS = 2000
BY_SMS_FIRST = (Channel.SMS, Channel.EMAIL)
BY_EMAIL_FIRST = (Channel.EMAIL, Channel.SMS)


def new_request_key() -> str:
    """Names one "send" form as shown: the same form sent twice (a refresh, a double tap) queues once."""
    return uuid.uuid4().hex


def is_request_key(text: str | None) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{32}", text or ""))


def send_link_by_hand(
    candidate: Candidate,
    *,
    actor_id: int,
    request_key: str,
    urgent: bool,
    now: datetime,
    channels: tuple[str, ...] = BY_EMAIL_FIRST,
) -> Outbox | None:
    """HR send the candidate their page's link: by email or text message (the other only when the first has
    no address or refuses it), with its own link issued at send time, in the candidate's language, through
    the outbox and its window (urgent: any day, never at night). ``request_key`` is the form's: the same form
    sent again (a refresh) queues nothing and returns None; audited."""
    _refuse_if_unreachable(candidate, channels)
    with force_locale(message_locale(candidate)):
        subject = gettext("Your onboarding page")
        body = gettext(
            "Hello %(name)s,\n\nThis is your onboarding page: where you stand, your training, what to bring "
            "and who to call.\n%(link)s",
            name=candidate.name,
            link=LINK_PLACEHOLDER,
        )
        body += "\n\n" + _hotline_line()
    return _queue_by_hand(
        candidate,
        MessageKind.LINK,
        request_key=request_key,
        subject=subject,
        body=body,
        actor_id=actor_id,
        urgent=urgent,
        now=now,
        channels=channels,
        sms_template=current_app.config["SMS_TEMPLATE_LINK"],
        sms_params={"name": candidate.name, "link": LINK_PLACEHOLDER},
    )


def send_note_by_hand(
    candidate: Candidate, *, actor_id: int, request_key: str, text: str, with_link: bool, urgent: bool, now: datetime
) -> Outbox | None:
    """HR write the candidate a message, by email (a text message can only be a provider's approved
    template), optionally with their page's link below it; otherwise as ``send_link_by_hand``."""
    text = text.replace("\r\n", "\n").strip()  # a browser sends a textarea's line breaks as CR LF
    if not text:
        raise OutboxError(_l("Write the message first."))
    if len(text) > NOTE_MAX_CHARACTERS:
        raise OutboxError(_l("A message holds at most %(count)d characters.", count=NOTE_MAX_CHARACTERS))
    _refuse_if_unreachable(candidate, (Channel.EMAIL,))
    with force_locale(message_locale(candidate)):
        subject = gettext("A message from HR")
        body = text + (f"\n\n{LINK_PLACEHOLDER}" if with_link else "")
        body += "\n\n" + _hotline_line()
    return _queue_by_hand(
        candidate,
        MessageKind.NOTE,
        request_key=request_key,
        subject=subject,
        body=body,
        actor_id=actor_id,
        urgent=urgent,
        now=now,
    )


def _hotline_line() -> str:
    """The last line of every message HR send, in the locale in force."""
    return gettext("Questions? Call HR: %(hotline)s", hotline=current_app.config["HR_HOTLINE"])


def _queue_by_hand(
    candidate: Candidate,
    kind: MessageKind,
    *,
    request_key: str,
    actor_id: int,
    urgent: bool,
    now: datetime,
    **message,
) -> Outbox | None:
    """Queue what HR sent and audit it, unless this form queued it already (sent again by a refresh or a
    double tap): then nothing more, not even an audit line, and None. queue_message's ON CONFLICT still keeps
    one message if two such requests cross."""
    key = f"{kind}:{candidate.id}:{request_key}"
    if db.session.scalar(sa.select(Outbox.id).where(Outbox.idempotency_key == key)) is not None:
        return None
    row = queue_message(
        candidate, kind=kind, key=key, now=now, created_by_id=actor_id, hand_sent=True, urgent=urgent, **message
    )
    what = "link" if kind == MessageKind.LINK else "message"
    detail = f"message {row.id}: {what} by {row.channels.replace(',', ' or ')}" + (", urgent" if urgent else "")
    record_on_candidate("message.queue", row.candidate_id, actor_user_id=actor_id, detail=detail)
    return row


def _refuse_if_unreachable(candidate: Candidate, channels: tuple[str, ...]) -> None:
    if candidate.status == Status.LEFT:
        raise OutboxError(_l("They left: nothing is sent to someone who left."))
    if Channel.EMAIL in channels and candidate.email:
        return
    if Channel.SMS in channels and sms_available():
        if candidate.phone:
            return
        raise OutboxError(_l("There is no email address or mobile number to send it to. Add one to the profile."))
    raise OutboxError(_l("There is no email address to send it to. Add one to the profile."))


def message_locale(candidate: Candidate) -> str:
    """The language Keepwarm writes to the candidate in: theirs, else the default."""
    return candidate.locale or current_app.config["BABEL_DEFAULT_LOCALE"]


def drop_queued_messages(candidate_id: int, reason: str) -> int:
    """Messages still waiting for someone who no longer gets any (they left): dropped now with ``reason``, so
    HR see at once that they will not go (the sender would drop them anyway)."""
    return rows_affected(
        db.session.execute(
            sa.update(Outbox)
            .where(Outbox.candidate_id == candidate_id, Outbox.status == MessageStatus.QUEUED)
            .values(status=MessageStatus.DROPPED, reason=reason, lease_until=None)
            .execution_options(synchronize_session=False, preserve_rowcount=True)
        )
    )


def retry_message(row: Outbox, *, actor_id: int, now: datetime) -> None:
    """An admin sends a failed message again (the address was fixed, the server is back): queued anew with
    fresh attempts, due when its window opens; audited. Only a failed message can be retried."""
    if row.status != MessageStatus.FAILED:
        raise OutboxError(_l("Only a failed message can be sent again."))
    row.status, row.attempts, row.lease_until = MessageStatus.QUEUED, 0, None
    row.due_at = _window_opens(WorkCalendar(now), row, now)
    db.session.flush()
    record_on_candidate("message.retry", row.candidate_id, actor_user_id=actor_id, detail=f"message {row.id}")
