"""Languages: which ones we speak, which one a request gets, and the cookie that remembers a choice.

A leaf module (it imports nothing of ours), so models, services and views may all use it.
"""

from babel import Locale
from flask import g, request
from werkzeug.wrappers import Response

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LANG_COOKIE = "lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
# Parsed once: Flask-Babel re-parses a returned string every request, scanning all of Babel's locales.
_PARSED_LOCALES = {name: Locale.parse(name) for name in LOCALES}


def select_locale() -> Locale:
    """The viewer's language: explicit choice, then candidate profile, then the browser."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen not in LOCALES:
        chosen = g.get("candidate_locale")
    if chosen not in LOCALES:
        chosen = request.accept_languages.best_match(LOCALES, default=DEFAULT_LOCALE)
    return _PARSED_LOCALES[chosen]


def remember_language(response: Response, locale: str) -> None:
    """Keep an explicit choice for a year; it wins over the profile and the browser."""
    response.set_cookie(
        LANG_COOKIE, locale, max_age=LANG_COOKIE_SECONDS, samesite="Lax", httponly=True, secure=request.is_secure
    )


def forget_request_locale(_exc: BaseException | None = None) -> None:
    """The candidate's profile language belongs to one request only."""
    g.pop("candidate_locale", None)
