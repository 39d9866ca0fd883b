"""Routes and responses shared by every audience: robots.txt, privacy notice, language, errors."""

from functools import wraps
from urllib.parse import urlsplit

import sqlalchemy as sa

from flask import Blueprint, Flask, g, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError

from portal import LOCALES
from portal.extensions import db

bp = Blueprint("site", __name__)

LANG_COOKIE_SECONDS = 365 * 24 * 3600


@bp.get("/")
def index():
    """Where people land without their personal link."""
    return render_template("index.html")


@bp.get("/healthz")
def healthz():
    """200 "ok", or 200 "degraded" with reasons while pages still work; 503 only without a database.

    The first line is the status; reasons follow, then one line per queue (depth, oldest job's wait,
    running jobs, workers listening).
    """
    from portal.jobs.health import queue_health
    from portal.models import utcnow

    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        db.session.rollback()
        return _plain(f"down\ndatabase: {type(error).__name__}\n", 503)
    health = queue_health(utcnow())
    status = "degraded" if health.problems else "ok"
    return _plain("\n".join([status, *health.problems, *health.queues]) + "\n", 200)


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


def page_arg() -> int:
    """The ?page= number, clamped: nonsense or absurd values never reach the database."""
    page = request.args.get("page", 1, type=int)
    return min(max(page, 1), 100_000)


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths: never an open redirect."""
    if not target or urlsplit(target).netloc or urlsplit(target).scheme or not target.startswith("/") \
            or target.startswith("//"):
        return default
    return target


@bp.post("/lang")
def switch_language():
    """Remember the chosen language in a cookie, and on the candidate's profile when one is signed in."""
    from portal.candidate.identity import cookie_name, link_id_from_cookie
    from portal.models import Candidate, PortalLink, utcnow

    locale = request.form.get("locale")
    target = safe_next(request.form.get("next"), url_for("candidate.page"))
    if locale not in LOCALES:
        return redirect(target, 303)
    link_id = link_id_from_cookie(request.cookies.get(cookie_name()))
    if link_id is not None:
        link = db.session.get(PortalLink, link_id)
        if link is not None and link.revoked_at is None and link.expires_at > utcnow():
            db.session.get(Candidate, link.candidate_id).locale = locale
            db.session.commit()
    response = redirect(target, 303)
    response.set_cookie("lang", locale, max_age=LANG_COOKIE_SECONDS, samesite="Lax", httponly=True,
                        secure=request.is_secure)
    return response


# Endpoints whose form is shown again, filled in, when its CSRF token expired (nothing typed is lost).
RETRY_ON_EXPIRED_FORM = {}


def htmx_aware(view):
    """Mark a view whose answer depends on HX-Request, so caches keep the two apart."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        response.vary.add("HX-Request")
        return response

    return wrapper


def invalid_link_response():
    """One page for unknown, revoked and expired links alike: it never tells which (R3)."""
    return render_template("errors/invalid_link.html"), 404


def register_error_pages(app: Flask) -> None:
    """Friendly pages for errors; htmx requests get a short message the page shows."""

    def render_error(template: str, status: int):
        if request.headers.get("HX-Request"):
            return render_template("errors/_htmx_error.html", status=status), status
        return render_template(template, status=status), status

    @app.errorhandler(404)
    def not_found(error):
        # Every candidate URL that fails its cookie or token answers with the same invalid-link page.
        if request.blueprint == "candidate" or request.path.startswith("/c/"):
            return invalid_link_response()
        return render_error("errors/404.html", 404)

    @app.errorhandler(405)
    def wrong_method(error):
        return render_error("errors/404.html", 405)

    @app.errorhandler(429)
    def too_many(error):
        return render_error("errors/429.html", 429)

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        retry = RETRY_ON_EXPIRED_FORM.get(request.endpoint)
        if retry is not None and not request.headers.get("HX-Request"):
            return retry(), 400
        return render_error("errors/csrf.html", 400)

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return render_error("errors/500.html", 500)

    @app.teardown_request
    def _forget_candidate(_exc):
        g.pop("candidate_locale", None)
