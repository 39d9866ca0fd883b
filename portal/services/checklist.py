"""Ticking and unticking preparation checklist items."""

from datetime import datetime

import sqlalchemy as sa

from portal.extensions import db
from portal.models import ChecklistCompletion, ChecklistItem


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
