"""Admins keep the work calendar: a year's public holidays and make-up working days, shown, edited as text
and saved (or a file imported), which confirms the year."""

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.admin.blueprint import bp
from portal.extensions import db
from portal.models import utcnow
from portal.services.worktime import CalendarError, calendar_file, calendar_year, import_calendar

FIRST_YEAR, LAST_YEAR = 2000, 2100  # beyond these, a year in the address is a typo
MAX_FILE_BYTES = 64 * 1024  # a year is a few dozen lines


def _year_arg(year: int | None) -> int:
    year = year or request.args.get("year", type=int) or utcnow().year
    if not FIRST_YEAR <= year <= LAST_YEAR:
        abort(404)
    return year


def _render(year: int, status: int = 200, text: str | None = None, problems: list[str] | None = None):
    state = calendar_year(year, utcnow())
    db.session.commit()  # a year seen for the first time was seeded from the holidays package
    return (
        render_template(
            "admin/calendar.html",
            year=year,
            state=state,
            text=calendar_file(state.days) if text is None else text,
            problems=problems or [],
            this_year=utcnow().year,
            first_year=FIRST_YEAR,
            last_year=LAST_YEAR,
        ),
        status,
    )


@bp.get("/calendar")
def work_calendar():
    """A year's days that break the weekly pattern, and whether the year is confirmed."""
    return _render(_year_arg(None))


@bp.post("/calendar/<int:year>")
def save_work_calendar(year: int):
    """Replace the year with the text (or an uploaded file) and confirm it; a line that cannot be read
    refuses the whole of it, with what was typed kept."""
    year = _year_arg(year)
    upload = request.files.get("file")
    text = request.form.get("days", "")
    if upload and upload.filename:
        raw = upload.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            return _render(year, 422, text, [_("That file is too large for a calendar (64 KB at most).")])
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return _render(year, 422, text, [_("Save the file as UTF-8 text and try again.")])
    try:
        import_calendar(text, utcnow(), only_year=year, actor_id=current_user.id)
    except CalendarError as error:
        db.session.rollback()
        return _render(year, 422, text, error.problems)
    db.session.commit()
    return redirect(url_for("admin.work_calendar", year=year, saved=1), 303)
