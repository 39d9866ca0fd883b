"""Error pages: friendly answers for every failure, short ones for htmx, and a plain 503 before migrations."""

import logging
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError

from portal.extensions import db
from portal.web import htmx_request

log = logging.getLogger(__name__)


def retry_on_expired_form(render_again: Callable) -> Callable:
    """Mark a view whose form is shown again, filled in, when its CSRF token expired (nothing typed is lost)."""

    def mark(view: Callable) -> Callable:
        view.render_on_expired_form = render_again  # type: ignore[attr-defined]
        return view

    return mark


def invalid_link_response():
    """One page for unknown, revoked and expired links alike: it never tells which (R3)."""
    return render_template("errors/invalid_link.html"), 404


def _render_error(template: str, status: int):
    if htmx_request():
        return render_template("errors/_htmx_error.html", status=status), status
    return render_template(template, status=status), status


def _schema_behind(error: sa.exc.DBAPIError) -> bool:
    """The database answers but lacks a table or column this code uses: ``flask db upgrade`` has not run."""
    text = str(error.orig).lower()
    return any(sign in text for sign in ("no such table", "no such column")) or (
        ("relation" in text or "column" in text) and "does not exist" in text
    )


def register_error_pages(app: Flask) -> None:
    """Friendly pages for errors; htmx requests get a short message the page shows."""

    @app.before_request
    def refuse_nul():
        """A NUL character is never text anyone typed, and PostgreSQL refuses to store it: answer 400 before
        any view sees it, rather than 500 from deep in the database driver. Multipart forms (uploads) are
        left to their views, which set their own size limit before the body is read; the services that read
        files drop control characters themselves."""
        values = list(request.args.values())
        if request.mimetype == "application/x-www-form-urlencoded":
            values += request.form.values()
        if any("\x00" in value for value in values):
            return _render_error("errors/400.html", 400)
        return None

    @app.errorhandler(404)
    def not_found(error):
        # Every candidate URL that fails its cookie or token answers with the same invalid-link page.
        if request.blueprint == "candidate" or request.path.startswith("/c/"):
            return invalid_link_response()
        return _render_error("errors/404.html", 404)

    @app.errorhandler(405)
    def wrong_method(error):
        return _render_error("errors/404.html", 405)

    @app.errorhandler(413)
    def too_large(error):
        return _render_error("errors/413.html", 413)

    @app.errorhandler(429)
    def too_many(error):
        return _render_error("errors/429.html", 429)

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        view = current_app.view_functions.get(request.endpoint or "")
        render_again = getattr(view, "render_on_expired_form", None)
        if render_again is not None and not htmx_request():
            return render_again(), 400
        return _render_error("errors/csrf.html", 400)

    @app.errorhandler(sa.exc.DBAPIError)
    def database_failed(error):
        db.session.rollback()
        if not _schema_behind(error):
            raise error
        if not app.extensions.get("keepwarm_schema_missing_logged"):
            app.extensions["keepwarm_schema_missing_logged"] = True
            log.error("The database schema is behind this code: run `flask db upgrade` (FLASK_APP=portal).")
        # Plain text: the templates themselves may need the database.
        return "Keepwarm is being set up. Please try again in a few minutes.\n", 503, {"Content-Type": "text/plain"}

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return _render_error("errors/500.html", 500)
