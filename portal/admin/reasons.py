"""Admins keep the one list of reasons: add, edit, order, retire and bring back (never delete)."""

from flask import redirect, render_template, request, url_for
from flask_login import current_user

from portal.admin.blueprint import bp
from portal.admin.forms import ReasonForm
from portal.extensions import db
from portal.models import Reason, utcnow
from portal.services import reasons as reason_service
from portal.services.reasons import ReasonError, reasons_in_order
from portal.web import page_arg

# Tens of reasons in practice: one page. Paged all the same, so a list that grows keeps a bounded page;
# moving up or down works across a page break, as the order is the whole list's.
PER_PAGE = 50


def _render_list(status: int = 200, form: ReasonForm | None = None, error: str | None = None):
    """The list and the add form (``form``: a refused one, with what was typed and why)."""
    pagination = db.paginate(reasons_in_order(), page=page_arg(), per_page=PER_PAGE, error_out=False)
    active_ids = db.session.scalars(reasons_in_order(active_only=True).with_only_columns(Reason.id)).all()
    return (
        render_template(
            "admin/reasons.html",
            pagination=pagination,
            form=form or ReasonForm(formdata=None),
            first_id=active_ids[0] if active_ids else None,
            last_id=active_ids[-1] if active_ids else None,
            error=error,
        ),
        status,
    )


def _refused(error: ReasonError, form: ReasonForm | None = None) -> dict:
    """Nothing changed: errors go on the form's fields; what concerns no field is returned for the page."""
    db.session.rollback()
    for field, message in error.errors.items():
        if field and form is not None:
            form[field].errors = [str(message)]
    return {"error": str(error.errors[""]) if "" in error.errors else None}


def _back_to_list(reason: Reason):
    """Commit, then the list at the page and row where the reason now is (POST-redirect-GET)."""
    db.session.commit()
    ids = db.session.scalars(reasons_in_order().with_only_columns(Reason.id)).all()
    page = ids.index(reason.id) // PER_PAGE + 1
    return redirect(url_for("admin.reasons", page=page if page > 1 else None, _anchor=f"reason-{reason.id}"), 303)


@bp.get("/reasons")
def reasons():
    """Every reason in its order, the retired ones last."""
    return _render_list()


@bp.post("/reasons")
def add_reason():
    """A new reason at the end of the active list."""
    form = ReasonForm()  # its CSRF token was checked before any view ran (portal.extensions.csrf)
    try:
        reason = reason_service.add_reason(form.label_zh.data, form.label_en.data, actor=current_user, now=utcnow())
    except ReasonError as error:
        return _render_list(422, form=form, **_refused(error, form))
    return _back_to_list(reason)


@bp.route("/reasons/<int:reason_id>", methods=["GET", "POST"])
def edit_reason(reason_id: int):
    """New words for a reason, shown wherever it was used."""
    reason = db.get_or_404(Reason, reason_id)
    form = ReasonForm(obj=reason)  # on a POST, what was typed
    if request.method == "GET":
        return render_template("admin/edit_reason.html", reason=reason, form=form)
    try:
        reason_service.edit_reason(reason, form.label_zh.data, form.label_en.data, actor=current_user, now=utcnow())
    except ReasonError as error:
        refused = _refused(error, form)
        return render_template("admin/edit_reason.html", reason=reason, form=form, **refused), 422
    return _back_to_list(reason)


def _change(reason_id: int, change, **kwargs):
    """Move, retire or restore: back to the list, or the list again with why nothing changed."""
    reason = db.get_or_404(Reason, reason_id)
    try:
        change(reason, actor=current_user, now=utcnow(), **kwargs)
    except ReasonError as error:
        return _render_list(422, **_refused(error))
    return _back_to_list(reason)


@bp.post("/reasons/<int:reason_id>/move")
def move_reason(reason_id: int):
    """One place up or down (the form's ``direction``)."""
    return _change(reason_id, reason_service.move_reason, direction=request.form.get("direction", ""))


@bp.post("/reasons/<int:reason_id>/retire")
def retire_reason(reason_id: int):
    """No longer offered; whoever left with it keeps it."""
    return _change(reason_id, reason_service.retire_reason)


@bp.post("/reasons/<int:reason_id>/restore")
def restore_reason(reason_id: int):
    """Offered again, at the end of the active list."""
    return _change(reason_id, reason_service.restore_reason)
