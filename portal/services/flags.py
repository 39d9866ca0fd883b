"""What HR do with a flag: claim, snooze, resolve. Each action is audited on the candidate's history."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Candidate, Flag, Stage, User
from portal.models.flags import OUTCOMES
from portal.services.audit import record_audit
from portal.services.stages import advance_stage


NO_ANSWER = "no_answer"


def next_morning(now: datetime) -> datetime:
    """09:00 tomorrow in the organisation's time zone."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(9, 0), tzinfo=zone)


class FlagActionError(ValueError):
    """The action cannot be done; the message says why, and nothing changed."""


def _audit(action: str, flag: Flag, user: User, detail: str = "") -> None:
    record_audit(action, actor_user_id=user.id, object_type="candidate", object_id=flag.candidate_id,
                 detail=f"flag {flag.id} ({flag.rule}){': ' + detail if detail else ''}")


def _require_open(flag: Flag) -> None:
    if flag.resolved_at is not None:
        raise FlagActionError(_l("This flag is already closed."))


def claim_flag(flag: Flag, user: User, *, now: datetime) -> None:
    """Take the flag on; claiming again is harmless, taking it from a colleague is recorded."""
    _require_open(flag)
    if flag.claimed_by_id == user.id:
        return
    flag.claimed_by_id, flag.claimed_at = user.id, now
    _audit("flag.claim", flag, user)
    db.session.flush()


def snooze_flag(flag: Flag, user: User, *, until: datetime, now: datetime) -> None:
    """Hide the flag until ``until``; it returns then if its condition still holds."""
    _require_open(flag)
    if until <= now:
        raise FlagActionError(_l("Choose a time in the future."))
    flag.snoozed_until = until
    _audit("flag.snooze", flag, user, f"until {until.isoformat(timespec='minutes')}")
    db.session.flush()


def resolve_flag(flag: Flag, user: User, *, outcome: str, note: str, now: datetime) -> None:
    """Close the flag with what HR did; it stays closed for this episode. "No answer" keeps it open until tomorrow."""
    _require_open(flag)
    if outcome not in OUTCOMES:
        raise FlagActionError(_l("Choose what happened."))
    if outcome == NO_ANSWER:
        # Nobody reached yet: keep the flag open and bring it back the next morning.
        flag.snoozed_until = next_morning(now)
        flag.note = note.strip()[:2000] or flag.note
        _audit("flag.no_answer", flag, user, f"back {flag.snoozed_until.isoformat(timespec='minutes')}")
        db.session.flush()
        return
    flag.resolved_at, flag.resolved_by_id, flag.outcome, flag.note = now, user.id, outcome, note.strip()[:2000]
    _audit("flag.resolve", flag, user, outcome)
    db.session.flush()


def advance_to_next_stage(candidate: Candidate, user: User, *, now: datetime) -> Stage:
    """Move the candidate one stage on in the pipeline."""
    current = db.session.get(Stage, candidate.current_stage_id) if candidate.current_stage_id else None
    query = sa.select(Stage).order_by(Stage.position)
    if current is not None:
        query = query.where(Stage.position > current.position)
    following = db.session.scalars(query.limit(1)).first()
    if following is None:
        raise FlagActionError(_l("The candidate is already at the last stage."))
    advance_stage(candidate, following, now=now, actor_id=user.id)
    record_audit("stage.advance", actor_user_id=user.id, object_type="candidate", object_id=candidate.id,
                 detail=f"to {following.key}")
    return following


def advance_flagged_candidate(flag: Flag, user: User, *, seen_stage_id: int | None, now: datetime) -> Stage:
    """'Next stage' from a queue row: only on an open flag, and only from the stage the row showed."""
    _require_open(flag)
    if seen_stage_id != flag.candidate.current_stage_id:
        # A second tab or a double click: the candidate moved on since the row was shown.
        raise FlagActionError(_l("The stage has changed since this page was shown. Nothing was changed."))
    return advance_to_next_stage(flag.candidate, user, now=now)
