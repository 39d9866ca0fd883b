"""Jinja helpers: localized fields, local times, phone links."""

import hashlib
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel import dates as babel_dates
from flask import Flask, current_app, g, has_request_context, request, url_for
from flask_babel import get_locale, get_timezone, get_translations
from jinja2 import pass_environment
from markupsafe import Markup

from portal.i18n import LOCALES, localized
from portal.models.cohorts import is_web_url


@pass_environment
def localized_filter(environment, obj, field: str) -> str:
    """``localized`` for templates: a locale's environment knows its locale (portal.translated_templates)."""
    return localized(obj, field, getattr(environment, "locale", None))


def _request_i18n():
    """Locale, time zone and catalogue of this request, looked up once (templates use them dozens of times)."""
    bundle = g.get("_i18n")
    if bundle is None:
        bundle = g._i18n = (get_locale(), get_timezone(), get_translations())
    return bundle


def request_locale() -> str | None:
    """This request's locale as a string, or None outside a request (templates then translate at render)."""
    return str(_request_i18n()[0]) if has_request_context() else None


@lru_cache(maxsize=8)
def _day_and_time_patterns(locale: Locale) -> tuple[babel_dates.DateTimePattern, babel_dates.DateTimePattern]:
    """A locale's medium day and short time patterns, looked up once (babel's format_* parse them per call)."""
    return babel_dates.parse_pattern(locale.date_formats["medium"]), babel_dates.parse_pattern(
        locale.time_formats["short"]
    )


def local_datetime(value: datetime | None) -> str:
    """A UTC time in the organisation's time zone, spelled like local_date plus hours and minutes."""
    if not value:
        return ""
    locale, zone, _ = _request_i18n()
    value = value.astimezone(zone)
    day, time = _day_and_time_patterns(locale)
    return f"{day.apply(value.date(), locale)} {time.apply(value, locale)}"


def local_date(value: date | None) -> str:
    """A day in the viewer's language."""
    if not value:
        return ""
    locale, zone, _ = _request_i18n()
    if isinstance(value, datetime):
        value = value.astimezone(zone).date()
    return _day_and_time_patterns(locale)[0].apply(value, locale)


def weekday_name(value: date) -> str:
    """The day of the week in the viewer's language: "周六", "Sat"."""
    return babel_dates.format_date(value, "EEE", locale=_request_i18n()[0])


def local_input_time(value: datetime) -> str:
    """A UTC time as a datetime-local input's value, on the organisation's clock."""
    return value.astimezone(_request_i18n()[1]).strftime("%Y-%m-%dT%H:%M")


def iso_datetime(value: datetime) -> str:
    """Machine-readable value for <time datetime>."""
    return value.isoformat(timespec="seconds")


def web_url(url: str | None) -> str:
    """The address when it is http(s), else nothing: a stored link is re-checked where it is rendered."""
    return url if url and is_web_url(url) else ""


def tel_href(phone: str | None) -> str:
    return "tel:" + "".join(ch for ch in (phone or "") if ch.isdigit() or ch == "+")


@lru_cache(maxsize=64)
def _static_url(static_folder: str, script_root: str, filename: str) -> str:
    version = hashlib.sha256((Path(static_folder) / filename).read_bytes()).hexdigest()[:10]
    return f"{script_root}/static/{filename}?v={version}"


def static_url(filename: str) -> str:
    """A static file's URL with its content hash, so browsers may cache it for a year (computed once)."""
    return _static_url(current_app.static_folder, request.script_root, filename)


def show_page_of(endpoint: str, **values) -> None:
    """Say which GET page this response shows: after a refused POST its pagers and language switch lead there,
    not to the POST's own address."""
    g.shown_page = (endpoint, values)


def _shown_page() -> tuple[str, dict]:
    return g.get("shown_page") or (request.endpoint or "site.index", request.view_args or {})


def page_url(page: int, name: str = "page") -> str:
    """This page's URL with another page number (of the list paged by ?<name>=), keeping everything else."""
    endpoint, values = _shown_page()
    return url_for(endpoint, **{**values, **request.args.to_dict(), name: page})


def here() -> str:
    """Where the language switch comes back to: this page, or the section's start after a POST."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    if "shown_page" in g:
        endpoint, values = g.shown_page
        return url_for(endpoint, **values)
    return url_for("hr.candidates") if request.blueprint == "hr" else url_for("candidate.page")


# All a fragment rendered once for many candidates may call (see render_shared): links, static files,
# translations and Jinja's own helpers. Everything else (the request, the session, a CSRF token, the
# current path, config) is per visitor or secret, and left out by naming what is in, not what is out.
SHARED_GLOBALS = (
    "url_for",
    "static_url",
    "_",
    "gettext",
    "ngettext",
    "pgettext",
    "npgettext",
    "range",
    "dict",
    "lipsum",
    "cycler",
    "joiner",
    "namespace",
)


def render_shared(template: str, **shared) -> Markup:
    """Render a fragment that is cached and shown to many candidates, from ``shared`` data alone.

    Its environment lacks every per-visitor global, so such a template cannot reach one visitor's
    data: a careless {{ csrf_token() }} or {{ request… }} fails at once instead of leaking.
    """
    return Markup(current_app.extensions["keepwarm_shared_jinja"].get_template(template).render(**shared))


def init_app(app: Flask) -> None:
    # Flask-Babel's template _() finds the catalogue anew on every call; take the request's once instead.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # jinja2.ext.i18n adds it
        gettext=lambda s: _request_i18n()[2].ugettext(s),
        ngettext=lambda s, p, n: _request_i18n()[2].ungettext(s, p, n),
        pgettext=lambda c, s: _request_i18n()[2].upgettext(c, s),
        npgettext=lambda c, s, p, n: _request_i18n()[2].unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.filters.update(
        localized=localized_filter,
        local_datetime=local_datetime,
        local_date=local_date,
        weekday_name=weekday_name,
        iso_datetime=iso_datetime,
        local_input_time=local_input_time,
        tel_href=tel_href,
        web_url=web_url,
    )

    @app.context_processor
    def globals_for_templates():
        return {
            "current_locale": str(get_locale()),
            "locales": LOCALES,
            "organisation_name": current_app.config["ORGANISATION_NAME"],
            "hr_hotline": current_app.config["HR_HOTLINE"],
            "retention_days": current_app.config["ENGAGEMENT_RETENTION_DAYS"],
        }

    app.jinja_env.globals["here"] = here
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.globals["static_url"] = static_url
    # A fresh template cache: templates compiled for the full environment carry its globals.
    shared = app.jinja_env.overlay(cache_size=50)
    shared.globals = {name: app.jinja_env.globals[name] for name in SHARED_GLOBALS if name in app.jinja_env.globals}
    app.extensions["keepwarm_shared_jinja"] = shared
