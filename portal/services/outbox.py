"""The outbox: queue a message with its cause, claim due ones, send them, and keep what happened.

Delivery is at least once. A row is committed as sent only after the server accepted it, so a sender that
dies between the two sends it again once its claim (OUTBOX_LEASE_SECONDS) runs out, with the same
Message-ID, by which a mail client or a person recognises the repeat.
"""

import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Candidate, PortalLink, utcnow
from portal.models.candidates import Channel, Status
from portal.models.outbox import LINK_PLACEHOLDER, MessageKind, MessageStatus, Outbox
from portal.services import dialect_insert
from portal.services.audit import record_on_candidate
from portal.services.links import issue_link, public_link_url
from portal.services.mailer import Email, SmtpConnection, describe, is_permanent
from portal.services.worktime import WorkCalendar

# Seconds before attempt 2, 3, …; after the last, the row fails with the last reason.
RETRY_DELAYS = (60, 300, 1800, 7200, 21600)
ESSENTIAL_KINDS: frozenset[str] = frozenset()  # an offer decision, a changed training date, an HR reply (coming)


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
) -> Outbox:
    """A message for ``candidate``, written in the caller's transaction (a rolled-back cause sends nothing).

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
        "priority": 0 if essential or hand_sent else 1,
        "channels": Channel.EMAIL,
        "locale": candidate.locale or current_app.config["BABEL_DEFAULT_LOCALE"],
        "subject": subject,
        "body": body,
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


def claim_due(now: datetime, *, limit: int, lease: timedelta) -> list[int]:
    """Take up to ``limit`` due rows for this sender, most pressing first, and return their ids.

    Due: queued rows whose time has come, and rows a sender claimed and never finished (its lease ran
    out). Several senders never take the same row: PostgreSQL skips rows another claim has locked; SQLite
    claims in one UPDATE, and one writer at a time.
    """
    due = _due(now)
    chosen = sa.select(Outbox.id).where(due).order_by(Outbox.priority, Outbox.due_at, Outbox.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    claimed = db.session.scalars(
        sa.update(Outbox)
        .where(Outbox.id.in_(chosen.scalar_subquery()), due)
        .values(status=MessageStatus.SENDING, lease_until=now + lease, attempts=Outbox.attempts + 1)
        .returning(Outbox.id),
        execution_options={"synchronize_session": False},
    ).all()
    # Rows this session already holds (the one that queued them, say) are read again: the claim changed them.
    for row in db.session.identity_map.values():
        if isinstance(row, Outbox) and row.id in claimed:
            db.session.expire(row)
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
    reasons: list[str] = field(default_factory=list)


def send_due(*, limit: int | None = None, clock=utcnow) -> Delivery:
    """Claim a batch of due rows and send each over one SMTP connection, committing each as it goes."""
    config = current_app.config
    done = Delivery()
    ids = claim_due(
        clock(), limit=limit or config["OUTBOX_BATCH"], lease=timedelta(seconds=config["OUTBOX_LEASE_SECONDS"])
    )
    db.session.commit()
    if not ids:
        return done
    connection = SmtpConnection()
    try:
        for position, row_id in enumerate(ids):
            row = db.session.get_one(Outbox, row_id)
            try:
                _send_one(row, connection, clock, done)
            except OSError as error:  # no connection, or it dropped (smtplib's errors are OSErrors too): all wait
                connection.close()
                _retry_later(row, describe(error), clock(), done)
                for rest in ids[position + 1 :]:
                    _retry_later(db.session.get_one(Outbox, rest), describe(error), clock(), done, counted=False)
                db.session.commit()
                break
            db.session.commit()
    finally:
        connection.close()
    return done


def _send_one(row: Outbox, connection: SmtpConnection, clock, done: Delivery) -> None:
    candidate = db.session.get_one(Candidate, row.candidate_id)
    reason = _no_longer_applies(candidate)
    if reason:
        row.status, row.reason, row.lease_until = MessageStatus.DROPPED, reason, None
        done.dropped += 1
        return
    body = row.body
    if LINK_PLACEHOLDER in body:
        # Its own link, committed before the SMTP call (a retry revokes the one that was never delivered).
        now = clock()
        if row.link_id is not None:
            db.session.execute(sa.update(PortalLink).where(PortalLink.id == row.link_id).values(revoked_at=now))
        link, token = issue_link(candidate, Channel.EMAIL, now=now, issued_by_id=row.created_by_id, rearm=False)
        row.link_id = link.id
        db.session.commit()
        body = body.replace(LINK_PLACEHOLDER, public_link_url(token))
    message = Email(subject=row.subject, recipients=[str(candidate.email)], body=body, html=_html(body))
    message.msgId = f"<outbox-{row.id}@{_domain()}>"
    if connection.host is None:
        connection.host = connection.configure_host()  # its errors are the connection's: send_due retries the batch
    try:
        connection.send(message)
    except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as error:  # 4xx: later; 5xx: never
        if is_permanent(error):
            row.status, row.reason, row.lease_until = MessageStatus.FAILED, describe(error), None
            done.failed += 1
            done.reasons.append(row.reason)
        else:
            _retry_later(row, describe(error), clock(), done)
        return
    row.status, row.sent_at, row.channel, row.lease_until, row.reason = (
        MessageStatus.SENT,
        clock(),
        Channel.EMAIL,
        None,
        "",
    )
    done.sent += 1


def _no_longer_applies(candidate: Candidate) -> str:
    """Why a queued message must not go now, re-checked at send time; "" when it may."""
    if candidate.status == Status.LEFT:
        return "the candidate left"
    if not candidate.email:
        return "no email address"
    try:
        validate_email(candidate.email, check_deliverability=False)
    except EmailNotValidError:
        return "not an email address"
    return ""


def _retry_later(row: Outbox, reason: str, now: datetime, done: Delivery, *, counted: bool = True) -> None:
    """Back to the queue after the next delay, or failed once the attempts are used up."""
    if not counted:  # claimed but never tried: the claim took an attempt it did not use
        row.attempts -= 1
    row.reason, row.lease_until = reason, None
    if row.attempts > len(RETRY_DELAYS):
        row.status = MessageStatus.FAILED
        done.failed += 1
        done.reasons.append(reason)
        return
    row.status, row.due_at = MessageStatus.QUEUED, now + timedelta(seconds=RETRY_DELAYS[max(row.attempts - 1, 0)])
    done.retrying += 1


def _html(text: str) -> str:
    """The plain text as simple HTML: paragraphs, and the link clickable (phone mail apps, WeChat's mail view)."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        words = []
        for word in escape(paragraph).replace("\n", "<br>\n").split(" "):
            if word.startswith(("https://", "http://")):
                word = f'<a href="{word}">{word}</a>'
            words.append(word)
        paragraphs.append(f"<p>{' '.join(words)}</p>")
    return (
        '<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f'</head><body style="font-size:16px;line-height:1.5">{"".join(paragraphs)}</body></html>'
    )


def _domain() -> str:
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    address = sender[1] if isinstance(sender, tuple | list) else sender
    return address.rsplit("@", 1)[-1].strip(">") or "keepwarm"


class OutboxError(ValueError):
    """A message that cannot be queued; the message says why."""


def send_link_by_hand(candidate: Candidate, *, actor_id: int, request_key: str, urgent: bool, now: datetime) -> Outbox:
    """HR send the candidate their page's link by email: a message with its own link (issued at send time),
    in the candidate's language, through the outbox and its window (urgent: any day, never at night).
    ``request_key`` is the form's: the same form sent twice (a refresh) queues one message; audited."""
    if candidate.status == Status.LEFT:
        raise OutboxError(_l("They left: nothing is sent to someone who left."))
    if not candidate.email:
        raise OutboxError(_l("There is no email address to send it to. Add one to the profile."))
    with force_locale(candidate.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = gettext("Your onboarding page")
        body = gettext(
            "Hello %(name)s,\n\nThis is your onboarding page: where you stand, your training, what to bring "
            "and who to call.\n%(link)s\n\nQuestions? Call HR: %(hotline)s",
            name=candidate.name,
            link=LINK_PLACEHOLDER,
            hotline=current_app.config["HR_HOTLINE"],
        )
    row = queue_message(
        candidate,
        kind=MessageKind.LINK,
        key=f"link:{candidate.id}:{request_key}",
        subject=subject,
        body=body,
        now=now,
        created_by_id=actor_id,
        hand_sent=True,
        urgent=urgent,
    )
    detail = f"message {row.id}: link by email" + (", urgent" if urgent else "")
    record_on_candidate("message.queue", candidate.id, actor_user_id=actor_id, detail=detail)
    return row


def retry_message(row: Outbox, *, actor_id: int, now: datetime) -> None:
    """An admin sends a failed message again (the address was fixed, the server is back): queued anew with
    fresh attempts, due when its window opens; audited. Only a failed message can be retried."""
    if row.status != MessageStatus.FAILED:
        raise OutboxError(_l("Only a failed message can be sent again."))
    row.status, row.attempts, row.lease_until = MessageStatus.QUEUED, 0, None
    row.due_at = WorkCalendar(now).send_at(now, essential=row.essential or row.priority == 0).at
    db.session.flush()
    record_on_candidate("message.retry", row.candidate_id, actor_user_id=actor_id, detail=f"message {row.id}")
