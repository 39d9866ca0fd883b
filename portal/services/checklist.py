"""The preparation checklist: candidates tick and untick items; admins add and change them."""

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import ChecklistCompletion, ChecklistItem, Cohort
from portal.models.cohorts import one_line
from portal.services.audit import record_audit


def item_applies(candidate_cohort_id: int | None, item_id: int) -> bool:
    """Whether a checklist item is shown to a candidate of the given cohort."""
    return (
        db.session.scalar(
            sa.select(sa.exists().where(ChecklistItem.id == item_id, ChecklistItem.applies_to(candidate_cohort_id)))
        )
        or False
    )


def set_item_done(candidate_id: int, item_id: int, done: bool, *, now: datetime) -> bool:
    """Tick or untick an item; doing it twice changes nothing. Returns whether anything changed."""
    key = {"candidate_id": candidate_id, "item_id": item_id}
    exists = db.session.get(ChecklistCompletion, (candidate_id, item_id)) is not None
    if done == exists:
        return False
    if done:
        db.session.add(ChecklistCompletion(**key, done_at=now))
    else:
        db.session.execute(sa.delete(ChecklistCompletion).filter_by(**key))
    db.session.flush()
    return True


class ChecklistError(ValueError):
    """An item that cannot be saved as given; the message says why, and nothing changed."""


LABEL_MAX = 200
DUE_DAYS_MAX = 90


def save_item(item: ChecklistItem, form: Mapping[str, str], *, actor_id: int, now: datetime) -> ChecklistItem:
    """Add (``item`` new) or change a checklist item from the admin's form: labels (Chinese required), everyone's
    or one cohort's, required or not, due some days before the cohort starts (required items only), its place.
    Refused with a ChecklistError, nothing changed; audited. Candidates see it within seconds (shared content)."""
    label_zh, label_en = one_line(form.get("label_zh", "")), one_line(form.get("label_en", ""))
    if not label_zh:
        raise ChecklistError(_l("Write the item in Chinese."))
    if len(label_zh) > LABEL_MAX or len(label_en) > LABEL_MAX:
        raise ChecklistError(_l("An item holds at most %(count)d characters.", count=LABEL_MAX))
    cohort_id = _whole_number(form.get("cohort_id"), _l("Cohort"))
    if cohort_id is not None and db.session.get(Cohort, cohort_id) is None:
        raise ChecklistError(_l("That training cohort does not exist."))
    required = form.get("required") == "1"
    due_days = _whole_number(form.get("due_days_before"), _l("Due days"))
    if due_days is not None and not required:
        raise ChecklistError(_l("Only a required item has a due day: tick Required, or leave the days empty."))
    if due_days is not None and not 0 <= due_days <= DUE_DAYS_MAX:
        raise ChecklistError(_l("Due days are between 0 and %(max)d.", max=DUE_DAYS_MAX))
    position = _whole_number(form.get("position"), _l("Order"))
    if position is None:
        position = (
            item.position if item.id else (db.session.scalar(sa.select(sa.func.max(ChecklistItem.position))) or 0) + 1
        )
    item.label_zh, item.label_en, item.cohort_id = label_zh, label_en, cohort_id
    item.required, item.due_days_before, item.position = required, due_days, position
    if item.id is None:
        db.session.add(item)
    db.session.flush()
    detail = f"{'required' if required else 'optional'}" + (
        f", due {due_days} days before" if due_days is not None else ""
    )
    record_audit(
        "checklist.save", actor_user_id=actor_id, object_type="checklist_item", object_id=item.id, detail=detail
    )
    return item


def _whole_number(text: str | None, label) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ChecklistError(_l("%(field)s must be a whole number.", field=label)) from None
