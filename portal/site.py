"""Routes shared by every audience: landing page, health, robots.txt, privacy notice, language switch."""

from typing import cast

import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for

from portal.candidate.identity import current_link_id
from portal.extensions import db, migrate
from portal.i18n import LOCALES, remember_language
from portal.jobs.health import queue_health
from portal.models import utcnow
from portal.services.candidates import set_preferred_locale
from portal.services.outbox import due_now
from portal.web import safe_next

bp = Blueprint("site", __name__)


@bp.get("/")
def index():
    """Where people land without their personal link."""
    return render_template("index.html")


@bp.get("/healthz")
def healthz():
    """200 "ok", or 200 "degraded" with reasons while pages still work; 503 without a database, or with
    one whose schema is not the one this code expects (before or during `flask db upgrade`).

    The first line is the status; reasons follow, then one line per queue (depth, oldest job's wait,
    running jobs, workers listening).
    """
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        db.session.rollback()
        return _plain(f"down\ndatabase: {type(error).__name__}\n", 503)
    try:
        version = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        version = None
    if version != schema_head():  # pages need the schema this code expects: keep traffic away until then
        problem = f"database: schema {version or 'missing'}, this code needs {schema_head()} (run flask db upgrade)"
        return _plain(f"down\n{problem}\n", 503)
    now = utcnow()
    health = queue_health(now)
    # The outbox from the database, so it is known with Redis down too: messages due and not gone.
    due, oldest = due_now(now)
    waited = int((now - oldest).total_seconds()) if oldest else 0
    health.queues.append(f"outbox: due {due}" + (f", oldest {waited} s" if oldest else ""))
    if waited > current_app.config["OUTBOX_STALE_SECONDS"]:
        health.problems.append(f"outbox: a message due {waited} s ago has not gone")
    status = "degraded" if health.problems else "ok"
    return _plain("\n".join([status, *health.problems, *health.queues]) + "\n", 200)


def schema_head() -> str | None:
    """The migration this code expects the database to be at (read from migrations/ once per process)."""
    if "keepwarm_schema_head" not in current_app.extensions:
        config = cast(AlembicConfig, migrate.get_config())  # Flask-Migrate's Config is alembic's
        current_app.extensions["keepwarm_schema_head"] = ScriptDirectory.from_config(config).get_current_head()
    return current_app.extensions["keepwarm_schema_head"]


def _plain(text: str, status: int):
    response = make_response(text, status)
    response.mimetype = "text/plain"
    return response


@bp.get("/robots.txt")
def robots():
    """Keep crawlers off candidate links and the back-office (R8)."""
    return _plain("User-agent: *\nDisallow: /c/\nDisallow: /me\nDisallow: /hr/\n", 200)


@bp.get("/privacy")
def privacy():
    """What is recorded about a candidate's visits, and why (PIPL-style notice)."""
    return render_template("privacy.html")


@bp.post("/lang")
def switch_language():
    """Remember the chosen language in a cookie, and on the candidate's profile when one is signed in."""
    locale = request.form.get("locale")
    target = safe_next(request.form.get("next"), url_for("candidate.page"))
    if locale not in LOCALES:
        return redirect(target, 303)
    now = utcnow()
    link_id = current_link_id(now)
    if link_id is not None and set_preferred_locale(link_id, locale, now=now):
        db.session.commit()
    response = redirect(target, 303)
    remember_language(response, locale)
    return response
