"""Admins plan the monthly training cohorts: the list, one cohort (its details, curriculum, waitlist, cancelling),
and a series of monthly cohorts planned on the work calendar. The rules are the services' (services.cohorts,
services.curriculum, services.cohort_series): these views parse what was typed, call one, commit, and show the
answer; a refusal rolls back and shows the form again as it was typed, the message beside the field."""

import re
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from portal.admin.blueprint import bp
from portal.extensions import db
from portal.hr.queries import cohort_counts
from portal.i18n import localized
from portal.models import Candidate, Cohort, CohortSession, utcnow
from portal.models.cohorts import CohortStatus
from portal.services import cohorts as cohort_service
from portal.services import curriculum
from portal.services.cohort_series import NTH_WORDS, PlannedCohort, SeriesError, SeriesRule, plan_series
from portal.services.cohort_series import refusal as rule_refusal
from portal.services.cohorts import COHORT_FIELDS, CohortError, members_count, waitlist_of
from portal.services.worktime import WorkCalendar, organisation_date, organisation_zone
from portal.templating import show_page_of
from portal.web import id_arg, page_arg

PER_PAGE = 50
WAITLIST_PER_PAGE = 50
COPY_CHOICES = 50  # cohorts offered to copy a curriculum from, newest first
TEMPLATE_FIELDS = tuple(field for field in COHORT_FIELDS if field not in ("starts_on", "ends_on"))
RULE_NUMBERS = ("months", "weekday", "nth", "working_days")
MONTH = re.compile(r"([0-9]{4})-([0-9]{1,2})")


# --------------------------------------------------------------------------------------------
# The list.
# --------------------------------------------------------------------------------------------


@bp.get("/cohorts")
def cohorts():
    """Cohorts still to come (or running) by their first day; with ?all=1 the past and cancelled ones after them."""
    everything = request.args.get("all") == "1"
    today = organisation_date(utcnow())
    ahead = Cohort.ends_on >= today
    query = sa.select(Cohort)
    if not everything:
        query = query.where(ahead, Cohort.status != CohortStatus.CANCELLED)
    query = query.order_by(
        sa.case((ahead, 0), else_=1),  # those to come first, soonest first; then the past, latest first
        sa.case((ahead, Cohort.starts_on)),
        Cohort.starts_on.desc(),
        Cohort.id,
    )
    pagination = db.paginate(query, page=page_arg(), per_page=PER_PAGE, error_out=False)
    counts = cohort_counts([cohort.id for cohort in pagination.items])  # HR's cohort list counts alike
    members = {cohort_id: count.members for cohort_id, count in counts.items()}
    waiting = {cohort_id: count.waiting for cohort_id, count in counts.items()}
    return render_template(
        "admin/cohorts.html",
        pagination=pagination,
        member_counts=members,
        waitlist_counts=waiting,
        everything=everything,
        today=today,
    )


# --------------------------------------------------------------------------------------------
# One cohort: its details, curriculum, waitlist; cancelling it.
# --------------------------------------------------------------------------------------------


@bp.route("/cohorts/new", methods=["GET", "POST"])
def new_cohort():
    if request.method == "POST":
        try:
            cohort = cohort_service.save_cohort(
                None, _cohort_values(request.form), actor_id=current_user.id, now=utcnow()
            )
        except CohortError as refused:
            db.session.rollback()
            return render_template(
                "admin/cohort.html",
                cohort=None,
                refused=refused,
                form="cohort",
                typed=request.form,
                as_text=_as_text(request.form),
            ), 422
        db.session.commit()
        flash(_("Cohort created. Now plan its curriculum."))
        return redirect(url_for("admin.cohort", cohort_id=cohort.id), 303)
    return render_template("admin/cohort.html", cohort=None, refused=None, form="cohort", typed=None, as_text=set())


@bp.route("/cohorts/<int:cohort_id>", methods=["GET", "POST"])
def cohort(cohort_id: int):
    """The cohort's page; a POST saves its details (a change of dates or place is told to its members)."""
    cohort = db.get_or_404(Cohort, cohort_id)
    if request.method == "GET":
        if not request.args.get("edit"):
            return _cohort_page(cohort)
        editing_id = id_arg("edit")  # no number, or beyond any id: as missing as one that does not exist
        if editing_id is None:
            abort(404)
        return _cohort_page(cohort, editing=_session_or_404(cohort, editing_id))
    revision, now = cohort.revision, utcnow()
    try:
        cohort_service.save_cohort(cohort, _cohort_values(request.form), actor_id=current_user.id, now=now)
    except CohortError as refused:
        db.session.rollback()
        return _cohort_page(cohort, 422, refused=refused, form="cohort")
    told = cohort.revision != revision and members_count(cohort.id) > 0
    # New dates keep each session on its working day; those past the new last day were taken off: say which.
    dropped = db.session.scalars(
        sa.select(CohortSession).where(CohortSession.cohort_id == cohort.id, CohortSession.removed_at == now)
    ).all()
    db.session.commit()
    flash(_("Saved. Its members were told of the new dates or place.") if told else _("Saved."))
    if dropped:
        titles = ", ".join(localized(session, "title") for session in dropped)
        flash(
            _("These sessions fell past the new last day and were taken off the curriculum: %(titles)s.", titles=titles)
        )
    return redirect(url_for("admin.cohort", cohort_id=cohort.id), 303)


@bp.post("/cohorts/<int:cohort_id>/sessions")
def add_session(cohort_id: int):
    return _save_session(db.get_or_404(Cohort, cohort_id), None)


@bp.post("/cohorts/<int:cohort_id>/sessions/<int:session_id>")
def edit_session(cohort_id: int, session_id: int):
    cohort = db.get_or_404(Cohort, cohort_id)
    return _save_session(cohort, _session_or_404(cohort, session_id))


@bp.post("/cohorts/<int:cohort_id>/sessions/<int:session_id>/remove", endpoint="remove_session")
def remove_cohort_session(cohort_id: int, session_id: int):
    """Off the curriculum (a second click finds it gone already: the same answer)."""
    cohort = db.get_or_404(Cohort, cohort_id)
    block = _session_or_404(cohort, session_id, removed_too=True)
    try:
        curriculum.remove_session(cohort, block, actor_id=current_user.id, now=utcnow())
    except CohortError as refused:
        db.session.rollback()
        return _cohort_page(cohort, 422, refused=refused, form="session")
    db.session.commit()
    return redirect(url_for("admin.cohort", cohort_id=cohort.id, _anchor="curriculum"), 303)


@bp.post("/cohorts/<int:cohort_id>/copy", endpoint="copy_curriculum")
def copy_curriculum_into(cohort_id: int):
    """Another cohort's sessions onto this one's working days; says how many came and how many did not fit."""
    cohort = db.get_or_404(Cohort, cohort_id)
    try:
        source = _chosen_cohort(request.form, "source")
        if source is None:
            raise CohortError(_l("Choose a cohort to copy from."), "source")
        copied, left_out = curriculum.copy_curriculum(source, cohort, actor_id=current_user.id, now=utcnow())
    except CohortError as refused:
        db.session.rollback()
        return _cohort_page(cohort, 422, refused=refused, form="copy")
    db.session.commit()
    flash(
        _(
            "%(copied)d copied, %(left_out)d left out (beyond its last day).",
            copied=copied,
            left_out=left_out,
        )
    )
    return redirect(url_for("admin.cohort", cohort_id=cohort.id, _anchor="curriculum"), 303)


@bp.post("/cohorts/<int:cohort_id>/cancel", endpoint="cancel_cohort")
def cancel(cohort_id: int):
    """Cancelled once the box is ticked: members are told at once, and nothing brings the cohort back."""
    cohort = db.get_or_404(Cohort, cohort_id)
    if cohort.cancelled:
        return redirect(url_for("admin.cohort", cohort_id=cohort.id), 303)  # a second click: nothing more to do
    if request.form.get("confirm") != "1":
        refused = CohortError(_l("Tick the box first: its members are told at once."), "confirm")
        return _cohort_page(cohort, 422, refused=refused, form="cancel")
    told = cohort_service.cancel_cohort(cohort, actor_id=current_user.id, now=utcnow())
    db.session.commit()
    flash(
        ngettext(
            "Cancelled. %(num)d member was told.",
            "Cancelled. %(num)d members were told.",
            told,
        )
    )
    return redirect(url_for("admin.cohort", cohort_id=cohort.id), 303)


def _save_session(cohort: Cohort, block: CohortSession | None):
    try:
        saved = curriculum.save_session(
            cohort, block, _session_values(request.form), actor_id=current_user.id, now=utcnow()
        )
    except CohortError as refused:
        db.session.rollback()
        return _cohort_page(cohort, 422, refused=refused, form="session", editing=block)
    db.session.commit()
    return redirect(url_for("admin.cohort", cohort_id=cohort.id, _anchor=f"session-{saved.id}"), 303)


def _session_or_404(cohort: Cohort, session_id: int, *, removed_too: bool = False) -> CohortSession:
    """One of the cohort's sessions (still on the curriculum, unless ``removed_too``); any other id is a 404."""
    block = db.session.get(CohortSession, session_id)
    if block is None or block.cohort_id != cohort.id or (block.removed_at is not None and not removed_too):
        abort(404)
    return block


def _cohort_page(
    cohort: Cohort,
    status: int = 200,
    *,
    refused: CohortError | None = None,
    form: str | None = None,
    editing: CohortSession | None = None,
):
    """The cohort's page; after a refusal, ``form`` (cohort, session, copy, cancel) shows what was typed."""
    show_page_of("admin.cohort", cohort_id=cohort.id)  # its pagers and language switch lead to the page, not the POST
    blocks = db.session.scalars(curriculum.live_sessions(cohort.id)).all()
    waitlist = db.paginate(
        waitlist_of(cohort.id), page=page_arg("waitlist_page"), per_page=WAITLIST_PER_PAGE, error_out=False
    )
    waiting = {entry.candidate_id for entry in waitlist.items}
    people = list(db.session.scalars(sa.select(Candidate).where(Candidate.id.in_(waiting)))) if waiting else []
    days = _days(cohort)
    if editing is not None and _local_day(editing.starts_at) not in days:
        days.append(_local_day(editing.starts_at))  # outside the cohort's dates now: shown, so saving says so
    return render_template(
        "admin/cohort.html",
        cohort=cohort,
        refused=refused,
        form=form,
        typed=request.form if refused is not None else None,
        as_text=_as_text(request.form) if refused is not None else set(),
        editing=editing,
        curriculum=_by_day(blocks),
        days=days,
        members=members_count(cohort.id),
        waitlist=waitlist,
        people={person.id: person for person in people},
        sources=_copy_choices(cohort) if not blocks and not cohort.cancelled else [],
    ), status


def _days(cohort: Cohort) -> list[date]:
    return [cohort.starts_on + timedelta(days=n) for n in range((cohort.ends_on - cohort.starts_on).days + 1)]


def _local_day(moment: datetime) -> date:
    return moment.astimezone(organisation_zone()).date()


def _by_day(blocks) -> list[tuple[date, list[tuple[CohortSession, str, str]]]]:
    """The sessions by their day where the organisation is, each with its start and end as that clock reads."""
    zone = organisation_zone()
    days: dict[date, list[tuple[CohortSession, str, str]]] = {}
    for block in blocks:
        starts, ends = block.starts_at.astimezone(zone), block.ends_at.astimezone(zone)
        days.setdefault(starts.date(), []).append((block, f"{starts:%H:%M}", f"{ends:%H:%M}"))
    return list(days.items())


def _copy_choices(cohort: Cohort | None) -> list[Cohort]:
    """Cohorts with a curriculum to copy, newest first (other than ``cohort``)."""
    live = sa.select(CohortSession.id).where(CohortSession.cohort_id == Cohort.id, CohortSession.removed_at.is_(None))
    query = sa.select(Cohort).where(live.exists())
    if cohort is not None:
        query = query.where(Cohort.id != cohort.id)
    return list(db.session.scalars(query.order_by(Cohort.starts_on.desc(), Cohort.id.desc()).limit(COPY_CHOICES)))


def _chosen_cohort(form, name: str) -> Cohort | None:
    """The cohort chosen in ``name`` (None when none is); one that does not exist is refused beside the field."""
    if not (form.get(name) or "").strip():
        return None
    chosen_id = id_arg(name, form)
    chosen = db.session.get(Cohort, chosen_id) if chosen_id else None
    if chosen is None:
        raise CohortError(_l("Choose a cohort to copy from."), name)
    return chosen


# --------------------------------------------------------------------------------------------
# What was typed, as the services take it. What cannot be read as a date, a time or a number is refused here,
# beside its field; a number that is not one goes on as typed, and the service says what it must be.
# --------------------------------------------------------------------------------------------


def _date(form, name: str) -> date | None:
    text = (form.get(name) or "").strip()
    if not text:
        return None  # the service says it is missing
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CohortError(_l("Write a date, such as 2027-03-01."), name) from None


def _time(form, name: str) -> time | None:
    text = (form.get(name) or "").strip()
    if not text:
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise CohortError(_l("Write a time, such as 09:00."), name) from None


def _whole_number(text: str | None) -> int | str:
    text = (text or "").strip()
    try:
        return int(text)
    except ValueError:
        return text


def _text(form, name: str) -> str:
    return (form.get(name) or "").replace("\r\n", "\n")


# What a browser sends for an input of a type of its own: anything else came from elsewhere (a script, a browser
# without that input), and is shown again as typed, in a text input (a date input cannot hold it).
_DATE, _TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), re.compile(r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?")
_MONTH, _NUMBER = re.compile(r"[0-9]{4}-[0-9]{2}"), re.compile(r"-?[0-9]+")
HTML_VALUES = {
    "starts_on": _DATE,
    "ends_on": _DATE,
    "start": _TIME,
    "end": _TIME,
    "first_month": _MONTH,
    "capacity": _NUMBER,
    "months": _NUMBER,
    "working_days": _NUMBER,
}


def _as_text(form) -> set[str]:
    """The inputs whose typed value their own type cannot hold: the page shows them as text inputs."""
    return {name for name, value in HTML_VALUES.items() if form.get(name) and not value.fullmatch(form[name])}


def _cohort_values(form) -> dict:
    values: dict = {field: _text(form, field) for field in COHORT_FIELDS}
    values.update(starts_on=_date(form, "starts_on"), ends_on=_date(form, "ends_on"))
    values["capacity"] = _whole_number(form.get("capacity"))
    return values


def _session_values(form) -> dict:
    values: dict = {field: _text(form, field) for field in curriculum.SESSION_LENGTHS}
    values.update(day=_date(form, "day"), start=_time(form, "start"), end=_time(form, "end"))
    return values


# --------------------------------------------------------------------------------------------
# A series of monthly cohorts.
# --------------------------------------------------------------------------------------------


@bp.route("/cohorts/series", methods=["GET", "POST"])
def cohort_series():
    """The rule and the template; "preview" shows the cohorts it gives (nothing saved), "create" saves them all."""
    refused: CohortError | SeriesError | None = None
    planned: list[PlannedCohort] | None = None
    problems: list = []
    changed = False
    if request.method == "POST":
        now, create = utcnow(), request.form.get("action") == "create"
        made: list[Cohort] = []
        try:
            rule = _series_rule(request.form)
            copy_from = _chosen_cohort(request.form, "copy_from")
            if create and _starts(plan_series(rule, WorkCalendar(now))[0]) != request.form.get("previewed"):
                # The rule was changed after the preview: create only what was seen, so show it first.
                create, changed = False, True
            if create:
                template: dict = {field: _text(request.form, field) for field in TEMPLATE_FIELDS}
                template["capacity"] = _whole_number(request.form.get("capacity"))
                made = curriculum.create_series(rule, template, copy_from=copy_from, actor_id=current_user.id, now=now)
            else:
                planned, problems = plan_series(rule, WorkCalendar(now))
        except (CohortError, SeriesError) as error:
            db.session.rollback()
            refused = error
        else:
            db.session.commit()  # a year the work calendar had never seen was seeded (a preview saves nothing else)
            if create:
                flash(ngettext("%(num)d cohort created.", "%(num)d cohorts created.", len(made)))
                return redirect(url_for("admin.cohorts"), 303)
    base = (request.form.get("name") or "").strip()
    return render_template(
        "admin/cohort_series.html",
        typed=request.form if request.method == "POST" else None,
        as_text=_as_text(request.form),
        refused=refused,
        planned=[(curriculum.series_name(base, plan), plan) for plan in planned] if planned is not None else None,
        problems=problems,
        previewed=_starts(planned) if planned else "",
        changed_since_preview=changed,
        nth_words=NTH_WORDS,
        sources=_copy_choices(None),
        first_month=_next_month(organisation_date(utcnow())),
    ), (422 if refused else 200)


def _starts(planned: list[PlannedCohort]) -> str:
    """The previewed cohorts' first days, as the form carries them to "create"."""
    return ",".join(plan.starts_on.isoformat() for plan in planned)


def _series_rule(form) -> SeriesRule:
    """The rule as typed; what is not a month or a number is refused as the service words it."""
    match = MONTH.fullmatch((form.get("first_month") or "").strip())
    try:
        first_month = date(int(match[1]), int(match[2]), 1) if match else None
    except ValueError:  # month 13, year 0
        first_month = None
    if first_month is None:
        raise rule_refusal("first_month")
    numbers = {}
    for field in RULE_NUMBERS:
        number = _whole_number(form.get(field))
        if not isinstance(number, int):
            raise rule_refusal(field)
        numbers[field] = number
    return SeriesRule(first_month=first_month, **numbers)


def _next_month(today: date) -> str:
    """What the first month starts as: the month after this one, as an <input type=month> writes it."""
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02}"
