"""The HR follow-up queue: list, claim, snooze, resolve, next stage. htmx swaps one row; without JS, 303 back."""

from functools import wraps

import sqlalchemy as sa
from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.extensions import db
from portal.hr.blueprint import bp
from portal.hr.forms import ResolveForm, SnoozeForm
from portal.hr.queries import QueueFilters, active_staff, open_flag_count, queue_query, visible_flag
from portal.models import Cohort, Flag, utcnow
from portal.models.flags import Severity
from portal.services.flags import FlagActionError, claim_flag, require_open, resolve_flag, snooze_flag
from portal.services.scan import RULES, RULES_BY_NAME
from portal.services.stages import StageError, advance_to_next_stage
from portal.services.worktime import start_of_working_day
from portal.web import htmx_aware, htmx_history_restore, htmx_request, id_arg, page_arg, safe_next

FLAGS_PER_PAGE = 25


def _filters() -> QueueFilters:
    args = request.args
    return QueueFilters(
        rule=args.get("rule", "") if args.get("rule") in RULES_BY_NAME else "",
        severity=args.get("severity", "") if args.get("severity") in set(Severity) else "",
        cohort_id=id_arg("cohort"),
        owner_id=id_arg("owner"),
    )


@bp.get("/queue")
@login_required
@htmx_aware
def queue():
    """Open flags, most urgent and oldest first; an htmx request gets just the list."""
    now = utcnow()
    filters = _filters()
    pagination = db.paginate(
        queue_query(current_user, filters, now), page=page_arg(), per_page=FLAGS_PER_PAGE, error_out=False
    )
    context = {"pagination": pagination, "filters": filters, "now": now}
    # Back/Forward after a filter asks htmx to restore the page: that needs all of it, not the list.
    if htmx_request() and not htmx_history_restore():
        return render_template("hr/_queue_list.html", **context)
    cohorts = db.session.execute(sa.select(Cohort.id, Cohort.name).order_by(Cohort.starts_on.desc())).all()
    owners = db.session.execute(active_staff()).all()
    return render_template("hr/queue.html", rules=RULES, cohorts=cohorts, owners=owners, **context)


@bp.get("/queue/badge")
@login_required
def queue_badge():
    """The open-flag count in the navigation, refreshed by htmx."""
    return render_template(
        "hr/_queue_badge.html", open_flags=db.session.scalar(open_flag_count(current_user, utcnow()))
    )


def _flag_or_404(flag_id: int) -> Flag:
    """The flag as the user may see it, with its candidate's tier read now (fresh after an action, too)."""
    query = visible_flag(current_user, flag_id, utcnow()).execution_options(populate_existing=True)
    flag = db.session.scalars(query).first()
    if flag is None:
        abort(404)
    return flag


def _answer(flag: Flag, error: str | None = None, snooze_form=None, resolve_form=None, status: int = 200):
    """The row again for htmx (with any error and what was typed); otherwise back to the queue."""
    if htmx_request() or error:
        flag = _flag_or_404(flag.id)  # what the action changed, the tier included
    if htmx_request():
        response = current_app.make_response(
            (
                render_template(
                    "hr/_flag_row.html",
                    flag=flag,
                    now=utcnow(),
                    error=error,
                    snooze_form=snooze_form or SnoozeForm(formdata=None),
                    resolve_form=resolve_form or ResolveForm(formdata=None),
                ),
                status,
            )
        )
        response.headers["HX-Trigger"] = "queue-changed"
        return response
    if error:
        # Without JS: the row again on its own page, with the error and everything typed.
        return render_template(
            "hr/action_error.html",
            flag=flag,
            now=utcnow(),
            error=error,
            back=_back(),
            snooze_form=snooze_form or SnoozeForm(formdata=None),
            resolve_form=resolve_form or ResolveForm(formdata=None),
        ), status
    return redirect(_back(), 303)


def _back() -> str:
    return safe_next(request.form.get("next"), url_for("hr.queue"))


def _act(flag: Flag, action, *, refused_status: int = 409, **forms):
    """Run one service action: commit and show the row, or show it with why it was refused (nothing changed)."""
    try:
        action()
    except (FlagActionError, StageError) as error:
        db.session.rollback()
        return _answer(flag, str(error), status=refused_status, **forms)
    db.session.commit()
    return _answer(flag)


def flag_action(name: str):
    """A POST from a queue row on one flag: logged in, htmx-aware, the flag loaded (404 unless the user may see it)."""

    def register(view):
        @wraps(view)
        def with_flag(flag_id: int):
            return view(_flag_or_404(flag_id))

        return bp.post(f"/flags/<int:flag_id>/{name}")(login_required(htmx_aware(with_flag)))

    return register


@flag_action("claim")
def claim(flag: Flag):
    return _act(flag, lambda: claim_flag(flag, current_user, now=utcnow()))


@flag_action("snooze")
def snooze(flag: Flag):
    form = SnoozeForm()
    if not form.validate() or form.until.data is None:
        return _answer(flag, "; ".join(form.until.errors) or None, snooze_form=form, status=422)
    # A date means "from the start of that working day" in the organisation's zone.
    until = start_of_working_day(form.until.data)
    return _act(
        flag, lambda: snooze_flag(flag, current_user, until=until, now=utcnow()), refused_status=422, snooze_form=form
    )


@flag_action("resolve")
def resolve(flag: Flag):
    form = ResolveForm()
    if not form.validate():
        errors = [e for field in (form.outcome, form.note) for e in field.errors]
        return _answer(flag, "; ".join(errors), resolve_form=form, status=422)
    return _act(
        flag,
        lambda: resolve_flag(flag, current_user, outcome=form.outcome.data, note=form.note.data or "", now=utcnow()),
        resolve_form=form,
    )


@flag_action("next-stage")
def next_stage(flag: Flag):
    seen_stage_id = id_arg("from_stage", request.form)

    def advance() -> None:
        require_open(flag)
        advance_to_next_stage(flag.candidate, current_user, seen_stage_id=seen_stage_id, now=utcnow())

    return _act(flag, advance)
