"""Admins keep the checklist: what candidates prepare, for everyone or one cohort, which items are required and
how many days before the cohort starts each is due (the reminder automation chases those; the candidate page
and HR's view show them)."""

import sqlalchemy as sa
from flask import redirect, render_template, request, url_for
from flask_login import current_user

from portal.admin.automations import cohort_choices
from portal.admin.blueprint import bp
from portal.extensions import db
from portal.models import ChecklistItem, Cohort, utcnow
from portal.services.checklist import ChecklistError, save_item
from portal.web import page_arg

PER_PAGE = 50


def _page(status: int = 200, error: str | None = None, typed=None, editing: ChecklistItem | None = None):
    query = sa.select(ChecklistItem).order_by(
        ChecklistItem.cohort_id.is_not(None), ChecklistItem.position, ChecklistItem.id
    )
    pagination = db.paginate(query, page=page_arg(), per_page=PER_PAGE, error_out=False)
    cohorts = cohort_choices([editing.cohort_id] if editing and editing.cohort_id else [])
    names = dict(db.session.execute(sa.select(Cohort.id, Cohort.name)).all())
    return render_template(
        "admin/checklist.html",
        pagination=pagination,
        cohorts=cohorts,
        cohort_names=names,
        error=error,
        typed=typed,
        editing=editing,
    ), status


@bp.get("/checklist")
def checklist():
    editing_id = request.args.get("edit", type=int)
    editing = db.session.get(ChecklistItem, editing_id) if editing_id else None
    return _page(editing=editing)


@bp.post("/checklist")
def add_checklist_item():
    return _save(ChecklistItem())


@bp.post("/checklist/<int:checklist_item_id>")
def edit_checklist_item(checklist_item_id: int):
    return _save(db.get_or_404(ChecklistItem, checklist_item_id))


def _save(item: ChecklistItem):
    try:
        save_item(item, request.form, actor_id=current_user.id, now=utcnow())
    except ChecklistError as refusal:
        db.session.rollback()
        return _page(422, error=str(refusal), typed=request.form, editing=item if item.id else None)
    db.session.commit()
    return redirect(url_for("admin.checklist", _anchor=f"item-{item.id}"), 303)
