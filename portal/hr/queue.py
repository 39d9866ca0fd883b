"""The HR follow-up queue: one row per candidate, with all their open flags.

From a row HR log a contact, move the candidate a stage on, and take, snooze or resolve a flag.
htmx swaps the candidate's row; without JavaScript each form posts and comes back (303).
"""

from functools import wraps

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.extensions import db
from portal.hr.blueprint import bp
from portal.hr.forms import ContactForm, ResolveForm, SnoozeForm
from portal.hr.queries import (
    CONTACT_DUE,
    QueueFilters,
    active_staff,
    open_flags_of,
    queue_count,
    queue_page,
    recent_cohorts,
    visible_candidate,
    visible_flag,
)
from portal.models import Candidate, Flag, utcnow
from portal.models.flags import Severity
from portal.services.flags import FlagActionError, claim_flag, resolve_flag, snooze_flag
from portal.services.scan import RULES, RULES_BY_NAME
from portal.services.stages import StageError, advance_to_next_stage
from portal.services.worktime import organisation_date, start_of_working_day
from portal.web import htmx_aware, htmx_history_restore, htmx_request, id_arg, page_arg, safe_next

ROWS_PER_PAGE = 25


def _filters() -> QueueFilters:
    args = request.args
    rule = args.get("rule", "")
    return QueueFilters(
        rule=rule if rule in RULES_BY_NAME or rule == CONTACT_DUE else "",
        severity=args.get("severity", "") if args.get("severity") in set(Severity) else "",
        cohort_id=id_arg("cohort"),
        owner_id=id_arg("owner"),
    )


@bp.get("/queue")
@login_required
@htmx_aware
def queue():
    """Who needs HR now, most urgent and longest waiting first; an htmx request gets just the list."""
    now = utcnow()
    filters = _filters()
    pagination = queue_page(current_user, filters, now, organisation_date(now), page_arg(), ROWS_PER_PAGE)
    context = {
        "pagination": pagination,
        "flags": open_flags_of([candidate.id for candidate in pagination.items]),
        "filters": filters,
        "now": now,
        "today": organisation_date(now),
    }
    # Back/Forward after a filter asks htmx to restore the page: that needs all of it, not the list.
    if htmx_request() and not htmx_history_restore():
        return render_template("hr/_queue_list.html", **context)
    cohorts = db.session.execute(recent_cohorts()).all()
    owners = db.session.execute(active_staff()).all()
    return render_template(
        "hr/queue.html",
        rules=RULES,
        cohorts=cohorts,
        owners=owners,
        contact_due=CONTACT_DUE,
        **context,
    )


@bp.get("/queue/badge")
@login_required
def queue_badge():
    """How many people wait in the queue, for the navigation; refreshed by htmx."""
    now = utcnow()
    return render_template(
        "hr/_queue_badge.html", waiting=db.session.scalar(queue_count(current_user, now, organisation_date(now)))
    )


def _back() -> str:
    return safe_next(request.form.get("next"), url_for("hr.queue"))


def queue_row_answer(
    candidate_id: int, *, error: str | None = None, status: int = 200, acted_flag_id: int | None = None, **forms
):
    """After an action from a queue row: the row again for htmx (with any error and what was typed); without
    JavaScript, back to the queue, or on an error the row on a page of its own. ``forms``: the refused form
    (snooze_form, resolve_form for ``acted_flag_id``; contact_form)."""
    if not htmx_request() and not error:
        return redirect(_back(), 303)
    now = utcnow()
    # populate_existing: what the action changed, the tier included, not what the session remembers.
    query = visible_candidate(current_user, candidate_id, now).execution_options(populate_existing=True)
    candidate = db.session.scalars(query).first()
    if candidate is None:
        abort(404)
    context = {
        "candidate": candidate,
        "flags": open_flags_of([candidate.id]),
        "now": now,
        "today": organisation_date(now),
        "error": error,
        "acted_flag_id": acted_flag_id,
        **forms,
    }
    if not htmx_request():
        return render_template("hr/action_error.html", back=_back(), **context), status
    response = current_app.make_response((render_template("hr/_queue_row.html", **context), status))
    response.headers["HX-Trigger"] = "queue-changed"
    return response


def _flag_or_404(flag_id: int) -> Flag:
    flag = db.session.scalars(visible_flag(current_user, flag_id, utcnow())).first()
    if flag is None:
        abort(404)
    return flag


def _act(flag: Flag, action, *, refused_status: int = 409, **forms):
    """Run one service action on a flag: commit and show the row, or show it with why it was refused."""
    try:
        action()
    except FlagActionError as error:
        db.session.rollback()
        return queue_row_answer(
            flag.candidate_id, error=str(error), status=refused_status, acted_flag_id=flag.id, **forms
        )
    db.session.commit()
    return queue_row_answer(flag.candidate_id)


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
        return queue_row_answer(
            flag.candidate_id,
            error="; ".join(form.until.errors) or None,
            status=422,
            acted_flag_id=flag.id,
            snooze_form=form,
        )
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
        return queue_row_answer(
            flag.candidate_id, error="; ".join(errors), status=422, acted_flag_id=flag.id, resolve_form=form
        )
    return _act(
        flag,
        lambda: resolve_flag(flag, current_user, outcome=form.outcome.data, note=form.note.data or "", now=utcnow()),
        resolve_form=form,
    )


@bp.post("/candidates/<int:candidate_id>/next-stage")
@login_required
@htmx_aware
def next_stage(candidate_id: int):
    """One stage on from the stage the row showed (a second tab changes nothing)."""
    now = utcnow()
    candidate: Candidate = db.first_or_404(visible_candidate(current_user, candidate_id, now))
    try:
        advance_to_next_stage(candidate, current_user, seen_stage_id=id_arg("from_stage", request.form), now=now)
    except StageError as error:
        db.session.rollback()
        return queue_row_answer(candidate_id, error=str(error), status=409)
    db.session.commit()
    return queue_row_answer(candidate_id)


def contact_form(candidate_id: int, formdata=None) -> ContactForm:
    """The contact form of one candidate; the prefix keeps its ids unique among a queue's rows."""
    return ContactForm(formdata=formdata, prefix=f"contact-{candidate_id}")
