"""Candidates start, leave, and come back from the talent pool."""

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Candidate, Cohort, Flag, Reason, Stage, User
from portal.models.candidates import LeftKind, Status
from portal.models.flags import Outcome
from portal.services.audit import record_on_candidate
from portal.services.cohorts import fill_from_waitlist, keep_place_if_free, leave_waitlist
from portal.services.links import revoke_links
from portal.services.outbox import drop_queued_messages
from portal.services.scan import rescan_candidate
from portal.services.stages import move_to_stage
from portal.services.stores import keep_store_if_free
from portal.services.threads import withdraw_waiting
from portal.services.worktime import organisation_date, organisation_zone


class LeavingError(ValueError):
    """The change cannot be made; the message says why, and nothing changed."""


def _require_active(candidate: Candidate) -> None:
    if candidate.status != Status.ACTIVE:
        raise LeavingError(_l("This candidate has already started or left. Nothing was changed."))


def mark_started(candidate: Candidate, *, actor: User, now: datetime) -> None:
    """The candidate started work: the rules stop watching them, and their open flags close."""
    _require_active(candidate)
    candidate.status = Status.STARTED
    candidate.started_at = now
    withdraw_waiting(candidate.id, now)
    db.session.flush()
    record_on_candidate("candidate.started", candidate.id, actor_user_id=actor.id, detail="")
    rescan_candidate(candidate.id, now)


def mark_left(
    candidate: Candidate,
    *,
    kind: str,
    reason_id: int,
    actor: User,
    now: datetime,
    recontact_on: date | None = None,
    note: str = "",
) -> None:
    """The candidate left before starting: open flags close with the reason, every link stops working,
    and no message reaches them any more (messages go to active candidates only). A re-contact date
    puts them in the talent pool."""
    _require_active(candidate)
    if kind not in set(LeftKind):
        raise LeavingError(_l("Choose how the candidate left."))
    reason = db.session.get(Reason, reason_id)
    if reason is None or reason.retired_at is not None:
        raise LeavingError(_l("Choose a reason from the list."))
    if recontact_on is not None and recontact_on < now.astimezone(organisation_zone()).date():
        raise LeavingError(_l("The date to contact them again cannot be in the past."))
    candidate.status = Status.LEFT
    candidate.left_at = now
    candidate.left_kind = kind
    candidate.left_reason_id = reason.id
    candidate.recontact_on = recontact_on
    candidate.left_note = note
    db.session.execute(
        sa.update(Flag)
        .where(Flag.candidate_id == candidate.id, Flag.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by_id=actor.id, outcome=Outcome.WITHDREW, note=reason.label_en)
    )
    revoke_links(candidate.id, now=now)
    drop_queued_messages(candidate.id, "the candidate left")
    withdraw_waiting(candidate.id, now)
    db.session.flush()
    record_on_candidate("candidate.left", candidate.id, actor_user_id=actor.id, detail=f"{kind}: {reason.label_en}")
    leave_waitlist(candidate.id)
    if candidate.cohort_id is not None:  # their place goes to the first who waits for it
        fill_from_waitlist(candidate.cohort_id, now=now)


def reactivate(candidate: Candidate, stage: Stage, *, actor: User, now: datetime, note: str = "") -> None:
    """Back from the talent pool at ``stage``: their history stays, and the rules watch them again.
    A new link is issued when one is next delivered."""
    if candidate.status != Status.LEFT:
        raise LeavingError(_l("Only a candidate who left can be re-activated."))
    candidate.status = Status.ACTIVE
    candidate.left_at = None
    candidate.left_kind = None
    candidate.left_reason_id = None
    candidate.recontact_on = None
    candidate.left_note = ""
    db.session.flush()
    keep_place_if_free(candidate, now=now)
    keep_store_if_free(candidate)
    record_on_candidate("candidate.reactivated", candidate.id, actor_user_id=actor.id, detail=f"at {stage.key}")
    move_to_stage(candidate, stage, actor=actor, now=now, note=note)


def record_first_day(
    cohort: Cohort, members: list[Candidate], came: set[int], *, actor: User, now: datetime
) -> tuple[list[Candidate], list[Candidate]]:
    """On a cohort's first day (or later) HR tick who came: each still-active member ticked has started; the
    active ones not ticked are returned as absent, for HR to mark as no-shows (nobody leaves by default).
    Refused (LeavingError, nothing changed) before the first day. (started, absent)."""
    if organisation_date(now) < cohort.starts_on:
        raise LeavingError(_l("The cohort starts on %(date)s: mark who came from that day on.", date=cohort.starts_on))
    started, absent = [], []
    for member in members:
        if member.status != Status.ACTIVE or member.cohort_id != cohort.id:
            continue
        if member.id in came:
            mark_started(member, actor=actor, now=now)
            started.append(member)
        else:
            absent.append(member)
    return started, absent


def mark_no_shows(members: list[Candidate], *, reason_id: int, actor: User, now: datetime, note: str = "") -> int:
    """Those who did not come on the first day left as no-shows, each with the reason (mark_left's checks and
    effects: flags closed, links revoked, their place to the waitlist). How many."""
    done = 0
    for member in members:
        if member.status == Status.ACTIVE:
            mark_left(member, kind=LeftKind.NO_SHOW, reason_id=reason_id, actor=actor, now=now, note=note)
            done += 1
    return done
