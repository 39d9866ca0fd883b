"""What HR do with a flag: claim, snooze, resolve. Each action is audited on the candidate's history."""

from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Flag, User
from portal.models.flags import HR_OUTCOMES, Outcome
from portal.services.audit import record_on_candidate
from portal.services.worktime import next_working_morning, organisation_zone


class FlagActionError(ValueError):
    """The action cannot be done; the message says why, and nothing changed."""


def _audit(action: str, flag: Flag, user: User, detail: str = "") -> None:
    about = f"flag {flag.id} ({flag.rule})" + (f": {detail}" if detail else "")
    record_on_candidate(action, flag.candidate_id, actor_user_id=user.id, detail=about)


def require_open(flag: Flag) -> None:
    """Refuse to act on a flag that was closed since the page was shown."""
    if flag.resolved_at is not None:
        raise FlagActionError(_l("This flag is already closed."))


def _require_risk(flag: Flag) -> None:
    """A task closes when HR answer the candidate (services.threads), never by hiding or resolving it here."""
    if flag.is_task:
        raise FlagActionError(_l("The candidate waits for an answer: answer them on their page and this closes."))


def claim_flag(flag: Flag, user: User, *, now: datetime) -> None:
    """Take the flag on; claiming again is harmless, taking it from a colleague is recorded."""
    require_open(flag)
    if flag.claimed_by_id == user.id:
        return
    flag.claimed_by_id, flag.claimed_at = user.id, now
    _audit("flag.claim", flag, user)
    db.session.flush()


def snooze_range(now: datetime) -> tuple[date, date]:
    """The first and last day a flag may be snoozed to (SNOOZE_MAX_DAYS ahead), as the organisation counts days."""
    today = now.astimezone(organisation_zone()).date()
    return today + timedelta(days=1), today + timedelta(days=current_app.config["SNOOZE_MAX_DAYS"])


def snooze_flag(flag: Flag, user: User, *, until: datetime, now: datetime) -> None:
    """Hide the flag until ``until``; it returns then if its condition still holds."""
    require_open(flag)
    _require_risk(flag)
    if until <= now:
        raise FlagActionError(_l("Choose a time in the future."))
    if until.astimezone(organisation_zone()).date() > snooze_range(now)[1]:
        raise FlagActionError(_l("Choose a date within %(days)s days.", days=current_app.config["SNOOZE_MAX_DAYS"]))
    flag.snoozed_until = until
    _audit("flag.snooze", flag, user, f"until {until.isoformat(timespec='minutes')}")
    db.session.flush()


def resolve_flag(flag: Flag, user: User, *, outcome: str, note: str, now: datetime) -> None:
    """Close the flag with what HR did; it stays closed for this episode. "No answer" keeps it open until tomorrow."""
    require_open(flag)
    _require_risk(flag)
    if outcome not in HR_OUTCOMES:
        raise FlagActionError(_l("Choose what happened."))
    if outcome == Outcome.NO_ANSWER:
        # Nobody reached yet: keep the flag open and bring it back at the start of the next working day.
        flag.snoozed_until = next_working_morning(now)
        flag.note = note.strip()[:2000] or flag.note
        _audit("flag.no_answer", flag, user, f"back {flag.snoozed_until.isoformat(timespec='minutes')}")
        db.session.flush()
        return
    flag.resolved_at, flag.resolved_by_id, flag.outcome, flag.note = now, user.id, outcome, note.strip()[:2000]
    _audit("flag.resolve", flag, user, outcome)
    db.session.flush()
