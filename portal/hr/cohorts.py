"""The cohort view for HR: each cohort's members (those the user may see) with their confirmation, whether they
saw the training notice, open flags, checklist and store; a message to everyone who has not confirmed; the
roster as a file and a printable sign-in sheet; on the first day, who came (they start) and who did not (offered
the "left: no-show" form)."""

import sqlalchemy as sa
from flask import Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.extensions import db
from portal.hr.blueprint import bp
from portal.hr.queries import (
    checklist_total,
    cohort_counts,
    cohort_members,
    cohorts_overview,
    roster_facts,
    visible_among,
)
from portal.jobs.messages import wake_sender
from portal.models import Candidate, Cohort, CohortSession, utcnow
from portal.models.candidates import Status
from portal.services.audit import record_audit
from portal.services.bulk import MAX_BULK, BulkAction, BulkOutcome, apply_bulk
from portal.services.curriculum import cohort_days
from portal.services.exporting import FORMATS, write_csv, write_xlsx
from portal.services.leaving import LeavingError, mark_no_shows, record_first_day
from portal.services.outbox import NOTE_MAX_CHARACTERS, new_request_key
from portal.services.reasons import reasons_in_order
from portal.services.worktime import WorkCalendar, organisation_date, organisation_zone
from portal.web import page_arg

COHORTS_PER_PAGE = 20
ROSTER_PER_PAGE = 100


def _cohort_or_404(cohort_id: int) -> Cohort:
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None:
        abort(404)
    return cohort


@bp.get("/cohorts")
@login_required
def cohorts():
    """Cohorts running or to come (``?past=1``: every one), with places taken, confirmations and waitlists."""
    past = request.args.get("past") == "1"
    pagination = db.paginate(
        cohorts_overview(organisation_date(utcnow()), past=past),
        page=page_arg(),
        per_page=COHORTS_PER_PAGE,
        error_out=False,
    )
    counts = cohort_counts([cohort.id for cohort in pagination.items])
    return render_template("hr/cohorts.html", pagination=pagination, counts=counts, past=past)


def _render(cohort: Cohort, status: int = 200, **extra):
    now = utcnow()
    pagination = db.paginate(
        cohort_members(current_user, cohort), page=page_arg(), per_page=ROSTER_PER_PAGE, error_out=False
    )
    today = organisation_date(now)
    return render_template(
        "hr/cohort.html",
        cohort=cohort,
        pagination=pagination,
        facts=roster_facts(cohort, [member.id for member in pagination.items]),
        checklist_total=checklist_total(cohort.id),
        first_day=today >= cohort.starts_on and not cohort.cancelled,
        request_key=new_request_key(),
        note_max=NOTE_MAX_CHARACTERS,
        reasons=db.session.scalars(reasons_in_order(active_only=True)).all(),
        **extra,
    ), status


@bp.get("/cohorts/<int:cohort_id>")
@login_required
def cohort(cohort_id: int):
    return _render(_cohort_or_404(cohort_id))


def _members(cohort: Cohort, *, only: set[int] | None = None) -> list[Candidate]:
    """The members the user may see (all of them, or those in ``only``), as full rows for the services."""
    query = cohort_members(current_user, cohort)
    if only is not None:
        query = query.where(Candidate.id.in_(only))
    return list(db.session.scalars(query))


def _ticked(name: str) -> set[int]:
    return {int(value) for value in request.form.getlist(name) if value.isdigit() and len(value) < 10}


@bp.post("/cohorts/<int:cohort_id>/message")
@login_required
def message_unconfirmed(cohort_id: int):
    """One written message to every member the user may see who has not confirmed, through the bulk service."""
    cohort = _cohort_or_404(cohort_id)
    text = (request.form.get("text") or "").strip()
    if not text:
        return _render(cohort, 422, message_error=_("Write the message first."), typed=request.form)
    if len(text) > NOTE_MAX_CHARACTERS:
        error = _("A message holds at most %(count)d characters.", count=NOTE_MAX_CHARACTERS)
        return _render(cohort, 422, message_error=error, typed=request.form)
    unconfirmed = [
        member.id
        for member in _members(cohort)
        if member.status == Status.ACTIVE and member.attendance_confirmed_at is None
    ]
    if not unconfirmed:
        return _render(
            cohort, 422, message_error=_("Everyone here has confirmed: nobody to write to."), typed=request.form
        )
    now = utcnow()
    results = []
    for start in range(0, len(unconfirmed), MAX_BULK):  # the bulk service's batches; a cohort can be a few hundred
        part = unconfirmed[start : start + MAX_BULK]
        visible = db.session.scalars(visible_among(current_user, part)).all()
        results.append(
            apply_bulk(
                BulkAction.NOTE,
                part,
                visible,
                actor=current_user,
                now=now,
                request_key=request.form.get("request") or new_request_key(),
                text=text,
                with_link=request.form.get("with_link") == "1",
            )
        )
    db.session.commit()
    result = results[0]
    for more in results[1:]:
        result.rows.extend(more.rows)
    if result.count(BulkOutcome.DONE):
        wake_sender()
    back = url_for("hr.cohort", cohort_id=cohort.id)
    return render_template("hr/list_bulk.html", errors=[], result=result, value="", back=back)


@bp.get("/cohorts/<int:cohort_id>/roster.<any(csv, xlsx):fmt>")
@login_required
def cohort_roster_file(cohort_id: int, fmt: str):
    """The roster as a file (the members the user may see), audited."""
    cohort = _cohort_or_404(cohort_id)
    total = checklist_total(cohort.id)
    header = [
        _("Name"),
        _("Phone"),
        _("Confirmed"),
        _("Saw the training notice"),
        _("Open flags"),
        _("Checklist"),
        _("Store"),
        _("Status"),
    ]
    people = _members(cohort)
    facts = roster_facts(cohort, [member.id for member in people])
    rows = [
        [
            member.name,
            member.phone or "",
            _local(member.attendance_confirmed_at),
            _notice_words(facts[member.id].saw_notice(member.last_seen_at)),
            str(facts[member.id].open_flags),
            f"{facts[member.id].ticked}/{total}",
            facts[member.id].store or "",
            _("started") if member.status == Status.STARTED else _("waiting to start"),
        ]
        for member in people
    ]
    body = write_csv(header, rows) if fmt == "csv" else write_xlsx(header, rows, _("Roster"))
    record_audit(
        "cohort.export",
        actor_user_id=current_user.id,
        object_type="cohort",
        object_id=cohort.id,
        detail=f"{fmt}, {len(rows)} rows",
    )
    db.session.commit()
    filename = f"cohort-{cohort.id}-{cohort.starts_on:%Y%m%d}.{fmt}"
    return Response(body, mimetype=FORMATS[fmt], headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _notice_words(saw: bool | None) -> str:
    return _("not sent") if saw is None else _("yes") if saw else _("no")


def _local(when) -> str:
    return when.astimezone(organisation_zone()).strftime("%Y-%m-%d %H:%M") if when else ""


@bp.get("/cohorts/<int:cohort_id>/sign-in")
@login_required
def cohort_sign_in(cohort_id: int):
    """A sheet to print for the first day: a line per member, a column to sign per training day."""
    cohort = _cohort_or_404(cohort_id)
    members = _members(cohort)
    zone = organisation_zone()
    # A column per day with a session (a Saturday exam too), else per working day; ten fit a sheet.
    session_days = db.session.scalars(
        sa.select(CohortSession.starts_at).where(
            CohortSession.cohort_id == cohort.id, CohortSession.removed_at.is_(None)
        )
    ).all()
    days = sorted({moment.astimezone(zone).date() for moment in session_days}) or cohort_days(
        cohort, WorkCalendar(utcnow())
    )
    days = days[:10]
    return render_template("hr/sign_in_sheet.html", cohort=cohort, members=members, days=days)


@bp.post("/cohorts/<int:cohort_id>/came")
@login_required
def cohort_first_day(cohort_id: int):
    """Who came on the first day: those ticked start; the rest are offered the no-show form."""
    cohort = _cohort_or_404(cohort_id)
    now = utcnow()
    try:
        # The members of the page that was shown (a roster of more than a page is marked a page at a time).
        shown = _members(cohort, only=_ticked("shown"))
        started, absent = record_first_day(cohort, shown, _ticked("came"), actor=current_user, now=now)
    except LeavingError as refusal:
        db.session.rollback()
        return _render(cohort, 422, first_day_error=str(refusal))
    db.session.commit()
    return _render(cohort, started=started, absent=absent)


@bp.post("/cohorts/<int:cohort_id>/no-shows")
@login_required
def cohort_no_shows(cohort_id: int):
    """The ticked members who did not come leave as no-shows, with the reason chosen."""
    cohort = _cohort_or_404(cohort_id)
    chosen = _members(cohort, only=_ticked("absent"))
    reason_id = request.form.get("reason_id", type=int)
    if not chosen:
        return _render(cohort, 422, no_show_error=_("Tick who did not come."), typed=request.form)
    try:
        done = mark_no_shows(
            chosen,
            reason_id=reason_id or 0,
            actor=current_user,
            now=utcnow(),
            note=(request.form.get("note") or "")[:500],
        )
    except LeavingError as refusal:
        db.session.rollback()
        return _render(cohort, 422, no_show_error=str(refusal), absent=chosen, typed=request.form)
    db.session.commit()
    return _render(cohort, no_shows=done)
