"""Languages: which ones we speak, which one a request gets, and the cookie that remembers a choice.

A leaf module (it imports nothing of ours), so models, services and views may all use it.
"""

import flask_babel
from babel import Locale
from flask import g, has_request_context, request
from werkzeug.wrappers import Response

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LANG_COOKIE = "lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
# Parsed once: Flask-Babel re-parses a returned string every request, scanning all of Babel's locales.
_PARSED_LOCALES = {name: Locale.parse(name) for name in LOCALES}


def select_locale() -> Locale:
    """The viewer's language: explicit choice, then candidate profile, then the browser (outside a
    request, e.g. in a job: the default)."""
    if not has_request_context():
        return _PARSED_LOCALES[DEFAULT_LOCALE]
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen not in LOCALES:
        chosen = g.get("candidate_locale")
    if chosen not in LOCALES:
        chosen = request.accept_languages.best_match(LOCALES, default=DEFAULT_LOCALE)
    return _PARSED_LOCALES[chosen]


def localized(obj, field: str, locale: str | None = None) -> str:
    """``obj.<field>_zh`` or ``obj.<field>_en`` for the locale, falling back to Chinese when empty."""
    locale = locale or str(flask_babel.get_locale())
    suffix = "zh" if locale.startswith("zh") else "en"
    value = getattr(obj, f"{field}_{suffix}", "") or ""
    return value or getattr(obj, f"{field}_zh", "") or ""


def remember_language(response: Response, locale: str) -> None:
    """Keep an explicit choice for a year; it wins over the profile and the browser."""
    response.set_cookie(
        LANG_COOKIE, locale, max_age=LANG_COOKIE_SECONDS, samesite="Lax", httponly=True, secure=request.is_secure
    )


def forget_request_locale(_exc: BaseException | None = None) -> None:
    """The candidate's profile language belongs to one request only."""
    g.pop("candidate_locale", None)
