"""Import on the page: upload -> map the columns -> preview every row's errors -> import all valid rows or nothing.

The file waits in the database between the steps (import_upload: web hosts keep nothing on disk between
requests) and is deleted once imported; the retention purge deletes what is left after a day.
"""

import base64
from datetime import timedelta

import sqlalchemy as sa
from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.exceptions import RequestEntityTooLarge

from portal.extensions import csrf, db
from portal.hr.blueprint import bp
from portal.hr.candidate import owner_choices
from portal.hr.queries import visible_candidate
from portal.models import ImportUpload, utcnow
from portal.services.importing import (
    FIELD_LABELS,
    FIELDS,
    MAX_BYTES,
    FileRefused,
    Sheet,
    as_typed,
    check_duplicates,
    check_rows,
    import_rows,
    propose_mapping,
    read_sheet,
    rejected_csv,
    sheet_from_bytes,
    sheet_to_bytes,
)
from portal.web import page_arg

ROWS_PER_PAGE = 50
UPLOAD_KEPT = timedelta(days=1)


class UploadForm(FlaskForm):
    """Only the CSRF token: the file is read from request.files once the larger size limit is set."""


def _upload_or_404(upload_id: int) -> ImportUpload:
    """An upload of the current user's own, not yet expired; anyone else's is 404 like a missing one."""
    upload = db.session.scalars(
        sa.select(ImportUpload).where(
            ImportUpload.id == upload_id,
            ImportUpload.uploaded_by_id == current_user.id,
            ImportUpload.expires_at > utcnow(),
        )
    ).first()
    if upload is None:
        abort(404)
    return upload


@bp.get("/import")
@login_required
def import_start():
    """Choose a file."""
    return render_template("hr/import.html", form=UploadForm(), field_labels=FIELD_LABELS, max_mb=MAX_BYTES // 2**20)


@bp.post("/import")
@login_required
@csrf.exempt  # CSRFProtect would read the body under the app's 2 MB limit; UploadForm checks the token instead
def import_upload():
    """Keep the file and go on to the mapping; a file that cannot be imported is refused here, with why."""
    # This request alone may carry a 10 MB file (and its form overhead); the rest of the app keeps its limit.
    request.max_content_length = MAX_BYTES + 64 * 1024
    too_big = _("The file is larger than %(mb)s MB. Split it into smaller files.", mb=MAX_BYTES // 2**20)

    def refused(message: str, status: int, form=None):
        return render_template(
            "hr/import.html",
            form=form or UploadForm(formdata=None),
            error=message,
            field_labels=FIELD_LABELS,
            max_mb=MAX_BYTES // 2**20,
        ), status

    try:
        form = UploadForm()  # reads the body: too large a body is refused here
        file = request.files.get("file")
    except RequestEntityTooLarge:
        return refused(too_big, 413)
    if not form.validate():
        return refused(_("The form expired. Choose the file again."), 400)
    if file is None or not file.filename:
        return refused(_("Choose a file."), 422)
    content = file.read(MAX_BYTES + 1)
    if len(content) > MAX_BYTES:
        return refused(too_big, 413)
    try:
        sheet = read_sheet(file.filename, content)
    except FileRefused as error:
        return refused(str(error), 422)
    now = utcnow()
    upload = ImportUpload(
        uploaded_by_id=current_user.id,
        uploaded_at=now,
        expires_at=now + UPLOAD_KEPT,
        filename=file.filename[-255:],
        sheet=sheet_to_bytes(sheet),
    )
    db.session.add(upload)
    db.session.commit()
    return redirect(url_for("hr.import_preview", upload_id=upload.id), 303)


def _mapping(sheet: Sheet, source) -> dict[int, str]:
    """The mapping the form chose (col-N = field, each field once), or the proposed one on first view."""
    if "mapped" not in source:
        return propose_mapping(sheet.header, current_user.import_mapping)
    mapping: dict[int, str] = {}
    for index in range(len(sheet.header)):
        field = source.get(f"col-{index}", "")
        if field in FIELDS and field not in mapping.values():
            mapping[index] = field
    return mapping


def _options(source) -> dict:
    owners = owner_choices()
    owner = source.get("owner", "")
    return {
        "on_duplicate": "update" if source.get("on_duplicate") == "update" else "skip",
        "skip_invalid": source.get("skip_invalid") == "1",
        "owner": owner if owner in dict(owners) else "",
        "owners": owners,
    }


def _may_see(candidate_id: int) -> bool:
    return db.session.scalar(visible_candidate(current_user, candidate_id, utcnow())) is not None


def _checked(upload: ImportUpload, source, now):
    """The upload read and every row checked as the form (or query string) ``source`` maps and chooses: what the
    preview shows, the rejected-rows file holds and the import writes are one reading."""
    sheet = sheet_from_bytes(upload.sheet)
    mapping = _mapping(sheet, source)
    options = _options(source)
    rows = check_rows(
        sheet,
        mapping,
        actor=current_user,
        now=now,
        default_owner_id=int(options["owner"]) if options["owner"] else None,
    )
    check_duplicates(rows, options["on_duplicate"], _may_see)
    return sheet, mapping, options, rows


def _preview(upload: ImportUpload, source, status: int = 200, error: str | None = None):
    sheet, mapping, options, rows = _checked(upload, source, utcnow())
    visible = {row.duplicate_of: _may_see(row.duplicate_of) for row in rows if row.duplicate_of is not None}
    # "Only the rejected rows": in a file of thousands, the rows to fix, without paging through the rest.
    only_rejected = source.get("only") == "rejected"
    listed = [row for row in rows if not row.valid] if only_rejected else rows
    pages = max(1, -(-len(listed) // ROWS_PER_PAGE))
    page = min(page_arg(), pages)
    shown = listed[(page - 1) * ROWS_PER_PAGE : page * ROWS_PER_PAGE]
    return render_template(
        "hr/import_preview.html",
        upload=upload,
        sheet=sheet,
        mapping=mapping,
        rows=shown,
        page=page,
        pages=pages,
        only_rejected=only_rejected,
        counts={
            "total": len(rows),
            "rejected": sum(1 for row in rows if not row.valid),
            "duplicates": sum(1 for row in rows if row.valid and row.duplicate_of is not None),
        },
        visible=visible,
        typed=as_typed([row for row in shown if not row.valid], sheet, mapping),
        choices={
            "mapped": "1",
            **{f"col-{index}": field for index, field in mapping.items()},
            "on_duplicate": options["on_duplicate"],
            "owner": options["owner"],
        },
        fields=FIELDS,
        field_labels=FIELD_LABELS,
        error=error,
        **options,
    ), status


@bp.get("/import/<int:upload_id>")
@login_required
def import_preview(upload_id: int):
    """Every row with what will happen to it; the mapping and the choices can be changed and previewed again."""
    return _preview(_upload_or_404(upload_id), request.args)


@bp.post("/import/<int:upload_id>/preview")
@login_required
def import_preview_again(upload_id: int):
    """The preview with the mapping and choices the form holds (the same form imports)."""
    return _preview(_upload_or_404(upload_id), request.form)


@bp.post("/import/<int:upload_id>")
@login_required
def import_confirm(upload_id: int):
    """Import all valid rows in one transaction, or nothing; the file is deleted once imported."""
    upload = _upload_or_404(upload_id)
    now = utcnow()
    sheet, mapping, options, rows = _checked(upload, request.form, now)
    report = import_rows(
        rows,
        actor=current_user,
        now=now,
        on_duplicate=options["on_duplicate"],
        skip_invalid=options["skip_invalid"],
        may_see=_may_see,
        filename=upload.filename,
    )
    if report.rejected and not options["skip_invalid"]:
        db.session.rollback()
        message = ngettext(
            "%(num)s row is rejected, so nothing was imported. Fix it in the file and upload it again, "
            "or choose to import the valid rows only.",
            "%(num)s rows are rejected, so nothing was imported. Fix them in the file and upload it again, "
            "or choose to import the valid rows only.",
            report.rejected,
        )
        return _preview(_upload_or_404(upload_id), request.form, 422, error=message)
    # Columns left out are remembered too ("" = do not import), so the same file is proposed as it was mapped.
    current_user.import_mapping = {header: mapping.get(index, "") for index, header in enumerate(sheet.header)}
    rejected = [row for row in rows if not row.valid]
    # The upload is deleted now, so the rejected rows travel in the page itself, to download and fix.
    rejected_file = (
        "data:text/csv;charset=utf-8;base64," + base64.b64encode(rejected_csv(rows, sheet)).decode() if rejected else ""
    )
    db.session.delete(upload)
    db.session.commit()
    current_app.logger.info("import by user %s: %s", current_user.id, report.summary())
    return render_template(
        "hr/import_done.html",
        report=report,
        rejected=rejected[:200],
        more=len(rejected) > 200,
        rejected_file=rejected_file,
    )


@bp.get("/import/<int:upload_id>/rejected.csv")
@login_required
def import_rejected(upload_id: int):
    """The rejected rows as they were, with why, to fix and import again."""
    upload = _upload_or_404(upload_id)
    sheet, _mapping_used, _options_used, rows = _checked(upload, request.args, utcnow())
    return current_app.response_class(
        rejected_csv(rows, sheet),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="rejected-rows.csv"'},
    )
