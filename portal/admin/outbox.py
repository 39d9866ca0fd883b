"""Admins see every message the outbox holds, filter by what became of it, and send a failed one again."""

import sqlalchemy as sa
from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user

from portal.admin.blueprint import bp
from portal.extensions import db
from portal.models import Outbox, utcnow
from portal.models.outbox import MessageStatus
from portal.services.outbox import OutboxError, retry_message
from portal.web import MAX_PAGE, page_arg

PER_PAGE = 50


def _status_filter() -> str:
    status = request.args.get("status", "")
    return status if status in set(MessageStatus) else ""


@bp.get("/outbox")
def outbox():
    """Newest first; bodies as stored, with the link's placeholder (a token is never kept)."""
    status = _status_filter()
    query = db.select(Outbox).options(sa.orm.joinedload(Outbox.candidate)).order_by(Outbox.id.desc())
    if status:
        query = query.where(Outbox.status == status)
    pagination = db.paginate(query, page=page_arg(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "admin/outbox.html", pagination=pagination, status=status, statuses=list(MessageStatus), error=None
    )


@bp.post("/outbox/<int:message_id>/retry")
def retry_outbox_message(message_id: int):
    row = db.session.get(Outbox, message_id)
    if row is None:
        abort(404)
    try:
        retry_message(row, actor_id=current_user.id, now=utcnow())
    except OutboxError as refusal:
        db.session.rollback()
        return render_template(
            "admin/outbox.html",
            pagination=db.paginate(db.select(Outbox).order_by(Outbox.id.desc()), page=1, per_page=PER_PAGE),
            status="",
            statuses=list(MessageStatus),
            error=str(refusal),
        ), 409
    db.session.commit()
    # Back to the list as it was filtered and paged.
    status = request.form.get("status", "")
    page = request.form.get("page", 1, type=int)
    return redirect(
        url_for(
            "admin.outbox",
            status=status if status in set(MessageStatus) else None,
            page=page if page and 1 < page <= MAX_PAGE else None,
            _anchor=f"message-{row.id}",
        ),
        303,
    )
