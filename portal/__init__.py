"""Keepwarm: the application factory, read top to bottom as a table of contents."""

import logging
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import config as config_module
from portal.extensions import babel, compress, csrf, db, htmx, login_manager, mail, migrate, talisman
from portal.i18n import forget_request_locale, select_locale
from portal.redaction import redact
from portal.translated_templates import TranslatedEnvironment
from portal.web import IdConverter

log = logging.getLogger(__name__)

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


class Keepwarm(Flask):
    """Flask, with an error's log line that never carries a token, and templates compiled per locale."""

    jinja_environment = TranslatedEnvironment

    def log_exception(self, exc_info) -> None:
        self.logger.error(f"Exception on {redact(request.path)} [{request.method}]", exc_info=exc_info)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app from the environment; ``test_config`` wins over it (portal.config.load)."""
    app = Keepwarm(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(config_module.load(app.instance_path, test_config))
    if app.config["KEEPWARM_ENV"] == "production" and not app.config["SECURE_COOKIES"]:
        log.warning("ALLOW_INSECURE_HTTP: serving over plain http; cookies are not Secure and HSTS is off.")
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    # Ids in URLs never exceed what the database holds: a larger number is a 404, not an overflow.
    app.url_map.converters["int"] = IdConverter
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    return app


def register_extensions(app: Flask) -> None:
    """Wire every extension to the app."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent.parent / "migrations"), render_as_batch=True)
    with app.app_context():
        _tune_database(db.engine)
    login_manager.init_app(app)  # where it sends the signed-out: portal.hr.auth.to_login
    # Flask-Login would load the HR user for every template, candidate pages included; portal.hr injects it.
    app.template_context_processors[None].remove(_flask_login_context_processor())
    babel.init_app(app, locale_selector=select_locale)
    app.teardown_request(forget_request_locale)
    csrf.init_app(app)
    htmx.init_app(app)
    mail.init_app(app)
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
    """SQLite: WAL so readers never wait for the writer, a busy timeout instead of errors, and a page cache
    of up to 64 MB per connection (the default 2 MB made each list page at 100,000 candidates read the same
    candidate rows from the file again: a third of its time)."""
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-65536")  # KiB
        cursor.close()


def register_blueprints(app: Flask) -> None:
    from portal.admin import bp as admin_bp
    from portal.candidate import bp as candidate_bp
    from portal.hr import bp as hr_bp
    from portal.site import bp as site_bp

    app.register_blueprint(site_bp)
    app.register_blueprint(candidate_bp)
    app.register_blueprint(hr_bp, url_prefix="/hr")
    app.register_blueprint(admin_bp, url_prefix="/admin")


def register_errorhandlers(app: Flask) -> None:
    from portal.errors import register_error_pages

    register_error_pages(app)


def register_commands(app: Flask) -> None:
    from portal import cli

    cli.init_app(app)


def register_template_helpers(app: Flask) -> None:
    from portal import templating

    templating.init_app(app)
