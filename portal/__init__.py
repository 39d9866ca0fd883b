"""Keepwarm: the application factory, read top to bottom as a table of contents."""

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from babel import Locale
from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import config as config_module
from portal.extensions import babel, compress, csrf, db, htmx, limiter, login_manager, mail, migrate, talisman

LOCALES = ("zh_CN", "en")
# Parsed once: Flask-Babel re-parses a returned string every request, scanning all of Babel's locales.
_PARSED_LOCALES = {name: Locale.parse(name) for name in LOCALES}

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app from the environment, then ``test_config`` on top."""
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(config_module.from_environment(app.instance_path))
    if test_config:
        app.config.update(test_config)
    configure_flask(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    return app


def configure_flask(app: Flask) -> None:
    """Cookie, CSRF and proxy settings derived from the configuration."""
    secure = app.config["SECURE_COOKIES"]
    app.config.update(
        SESSION_COOKIE_NAME="__Host-kw_session" if secure else "kw_session",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # HR idle/absolute timeouts are enforced server-side in portal.hr.auth.
        PERMANENT_SESSION_LIFETIME=app.config["HR_ABSOLUTE_TIMEOUT"],
        # A CSRF token lives as long as the session: nothing typed is lost to a one-hour limit.
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_DEFAULT_TIMEZONE=app.config["TIMEZONE"],
        RATELIMIT_STORAGE_URI=config_module.limiter_storage_uri(app.config["REDIS_URL"]),
        RATELIMIT_STORAGE_OPTIONS={"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_HEADERS_ENABLED=False,
        COMPRESS_REGISTER=app.config["COMPRESS_RESPONSES"],
        COMPRESS_MIMETYPES=["text/html", "text/css", "text/plain", "application/javascript",
                            "text/javascript", "text/calendar", "image/svg+xml"],
        COMPRESS_ALGORITHM=["br", "gzip"],
        # Static files are streamed; Flask-Compress's streaming default leaves out gzip.
        COMPRESS_ALGORITHM_STREAMING=["br", "gzip"],
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        # Templates link static files with their content hash (portal.templating.static_url).
        SEND_FILE_MAX_AGE_DEFAULT=365 * 24 * 3600,
    )
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)


def register_extensions(app: Flask) -> None:
    """Wire every extension to the app."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent.parent / "migrations"),
                     render_as_batch=True)
    with app.app_context():
        _tune_database(db.engine)
    login_manager.init_app(app)
    # Flask-Login would load the HR user for every template, candidate pages included; portal.hr injects it.
    app.template_context_processors[None].remove(_flask_login_context_processor())
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    htmx.init_app(app)
    mail.init_app(app)
    limiter.init_app(app)
    if app.config["COMPRESS_RESPONSES"]:
        compress.init_app(app)
    secure = app.config["SECURE_COOKIES"]
    talisman.init_app(
        app,
        force_https=False,  # TLS ends at the proxy; PUBLIC_BASE_URL decides Secure cookies and HSTS.
        strict_transport_security=secure,
        strict_transport_security_max_age=31536000,
        session_cookie_secure=secure,
        content_security_policy=CSP,
        referrer_policy="strict-origin",
        frame_options="DENY",
    )

    @app.after_request
    def no_store(response):
        """Personal pages are never cached by shared caches nor indexed (R8)."""
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Robots-Tag"] = "noindex, nofollow"
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def _flask_login_context_processor():
    from flask_login.utils import _user_context_processor

    return _user_context_processor


def _tune_database(engine: sa.Engine) -> None:
    """SQLite: WAL so readers never wait for the writer, and a busy timeout instead of errors."""
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def select_locale() -> Locale:
    """The viewer's language: explicit choice, then candidate profile, then the browser."""
    from flask import g

    chosen = request.cookies.get("lang")
    if chosen not in LOCALES:
        chosen = g.get("candidate_locale")
    if chosen not in LOCALES:
        chosen = request.accept_languages.best_match(LOCALES, default="zh_CN")
    return _PARSED_LOCALES[chosen]


def register_blueprints(app: Flask) -> None:
    from portal.candidate import bp as candidate_bp
    from portal.hr import bp as hr_bp
    from portal.site import bp as site_bp

    app.register_blueprint(site_bp)
    app.register_blueprint(candidate_bp)
    app.register_blueprint(hr_bp, url_prefix="/hr")


def register_errorhandlers(app: Flask) -> None:
    from portal.site import register_error_pages

    register_error_pages(app)


def register_commands(app: Flask) -> None:
    from portal import cli

    cli.init_app(app)


def register_template_helpers(app: Flask) -> None:
    from portal import templating

    templating.init_app(app)
