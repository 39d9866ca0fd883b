"""The one list of reasons (why people leave, decline an offer, ask for another date), as admins keep it.

Reasons are retired, never deleted, so history keeps its words. Every change is checked here, flushed
(never committed) and written to the audit log.
"""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Reason, User
from portal.services.audit import record_audit

LABEL_MAX = 80  # the width of the label columns (Reason.label_zh, Reason.label_en)
DIRECTIONS = ("up", "down")


class ReasonError(ValueError):
    """The change cannot be made and nothing changed. ``errors`` says why: by field ("label_zh",
    "label_en"), or under "" for the change as a whole."""

    def __init__(self, errors: dict) -> None:
        super().__init__("; ".join(str(message) for message in errors.values()))
        self.errors = errors


def reasons_in_order(*, active_only: bool = False) -> sa.Select:
    """The list in its one order: active reasons by position, then the retired ones."""
    query = sa.select(Reason).order_by(Reason.retired_at.is_not(None), Reason.position, Reason.id)
    return query.where(Reason.retired_at.is_(None)) if active_only else query


def _label(text: str | None) -> str:
    """Trimmed, inner runs of white space (a pasted line break, a double space) made one space."""
    return " ".join((text or "").split())


def _taken_by(column, label: str, other_than: int | None) -> Reason | None:
    """Another reason, active or retired, with this label: letters compared regardless of case."""
    query = sa.select(Reason).where(sa.func.lower(column) == label.lower())
    if other_than is not None:
        query = query.where(Reason.id != other_than)
    return db.session.scalars(query.order_by(Reason.id).limit(1)).first()


def _checked_labels(label_zh: str | None, label_en: str | None, *, other_than: int | None = None) -> tuple[str, str]:
    """Both labels cleaned, or a ReasonError naming every label that is missing, too long or taken."""
    labels = {"label_zh": _label(label_zh), "label_en": _label(label_en)}
    missing = {"label_zh": _l("Enter the reason in Chinese."), "label_en": _l("Enter the reason in English.")}
    errors = {}
    for field, label in labels.items():
        if not label:
            errors[field] = missing[field]
        elif len(label) > LABEL_MAX:
            errors[field] = _l(
                "At most %(max)s characters, please; this has %(count)s.", max=LABEL_MAX, count=len(label)
            )
        elif (taken := _taken_by(getattr(Reason, field), label, other_than)) is not None:
            errors[field] = (
                _l("A retired reason is already called “%(label)s”: bring it back instead.", label=label)
                if taken.retired_at is not None
                else _l("Another reason is already called “%(label)s”.", label=label)
            )
    if errors:
        raise ReasonError(errors)
    return labels["label_zh"], labels["label_en"]


def _next_position() -> int:
    """After every reason there is, so a new or restored reason comes last among the active ones."""
    return (db.session.scalar(sa.select(sa.func.max(Reason.position))) or 0) + 1


def _audit(action: str, reason: Reason, actor: User, detail: str) -> None:
    record_audit(action, actor_user_id=actor.id, object_type="reason", object_id=reason.id, detail=detail)


def add_reason(label_zh: str | None, label_en: str | None, *, actor: User, now: datetime) -> Reason:
    """A new reason, in both languages, at the end of the active list."""
    zh, en = _checked_labels(label_zh, label_en)
    reason = Reason(position=_next_position(), label_zh=zh, label_en=en)
    db.session.add(reason)
    db.session.flush()
    _audit("reason.add", reason, actor, f"{zh} | {en}")
    return reason


def edit_reason(reason: Reason, label_zh: str | None, label_en: str | None, *, actor: User, now: datetime) -> None:
    """New words for a reason; they show wherever it was used. The audit row keeps the old ones."""
    zh, en = _checked_labels(label_zh, label_en, other_than=reason.id)
    if (zh, en) == (reason.label_zh, reason.label_en):
        return  # nothing to change, nothing to record
    before = f"{reason.label_zh} | {reason.label_en}"
    reason.label_zh, reason.label_en = zh, en
    db.session.flush()
    _audit("reason.edit", reason, actor, f"{before} -> {zh} | {en}")


def move_reason(reason: Reason, direction: str, *, actor: User, now: datetime) -> None:
    """One place up or down among the active reasons."""
    if direction not in DIRECTIONS:
        raise ReasonError({"": _l("Choose up or down.")})
    if reason.retired_at is not None:
        raise ReasonError({"": _l("A retired reason has no place in the list. Bring it back first.")})
    # Locked (PostgreSQL) so that two admins moving at once renumber one after the other.
    active = list(db.session.scalars(reasons_in_order(active_only=True).with_for_update()))
    index = active.index(reason)
    target = index - 1 if direction == "up" else index + 1
    if not 0 <= target < len(active):
        raise ReasonError(
            {"": _l("This reason is already first.") if direction == "up" else _l("This reason is already last.")}
        )
    active[index], active[target] = active[target], active[index]
    # Numbered afresh: seeded or older positions may tie, and a swap of equal numbers would change nothing.
    for position, each in enumerate(active):
        each.position = position
    db.session.flush()
    _audit("reason.move", reason, actor, f"{direction} to {target + 1}")


def retire_reason(reason: Reason, *, actor: User, now: datetime) -> None:
    """No longer offered; whoever left with it keeps it. The last active reason stays: HR need one."""
    if reason.retired_at is not None:
        raise ReasonError({"": _l("This reason is already retired.")})
    active = db.session.scalar(sa.select(sa.func.count()).select_from(Reason).where(Reason.retired_at.is_(None)))
    if active == 1:
        raise ReasonError({"": _l("This is the last reason in use; HR need at least one. Add another first.")})
    reason.retired_at = now
    db.session.flush()
    _audit("reason.retire", reason, actor, reason.label_en)


def restore_reason(reason: Reason, *, actor: User, now: datetime) -> None:
    """Offered again, at the end of the active list."""
    if reason.retired_at is None:
        raise ReasonError({"": _l("This reason is in use already.")})
    reason.retired_at = None
    reason.position = _next_position()
    db.session.flush()
    _audit("reason.restore", reason, actor, reason.label_en)
