"""The candidate's own signed cookie, separate from the HR session (R5).

It names the link that opened this browser and when the cookie was issued: a copied cookie stops
working CANDIDATE_COOKIE_DAYS after the last visit that renewed it, and always with its link.
"""

from datetime import UTC, datetime, timedelta

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from portal.web import MAX_ID

# A visit renews a cookie older than this; younger ones are left alone (no Set-Cookie on every page).
RENEW_AFTER = timedelta(days=1)


def _serializer() -> URLSafeSerializer:
    """Built once per app: building one costs as much as checking a cookie."""
    serializer = current_app.extensions.get("keepwarm_candidate_cookie")
    if serializer is None:
        serializer = URLSafeSerializer(current_app.config["SECRET_KEY"], salt="candidate-link")
        current_app.extensions["keepwarm_candidate_cookie"] = serializer
    return serializer


def cookie_name() -> str:
    return "__Host-kw_cand" if current_app.config["SECURE_COOKIES"] else "kw_cand"


def _max_age() -> timedelta:
    return timedelta(days=current_app.config["CANDIDATE_COOKIE_DAYS"])


def set_candidate_cookie(response: Response, link_id: int, link_expires_at: datetime, now: datetime) -> None:
    """Remember which link opened this browser, for no longer than the cookie's maximum age or the link."""
    seconds = int(min((link_expires_at - now).total_seconds(), _max_age().total_seconds()))
    response.set_cookie(
        cookie_name(),
        _serializer().dumps([link_id, int(now.timestamp())]),
        max_age=seconds,
        path="/",
        secure=current_app.config["SECURE_COOKIES"],
        httponly=True,
        samesite="Lax",
    )


def read_candidate_cookie(now: datetime) -> tuple[int, datetime] | None:
    """(link id, issued at) from this request's cookie, or None when it is missing, forged or too old.

    Decoded once per request: the identity check and the renewal both ask.
    """
    if "candidate_cookie" not in g:
        g.candidate_cookie = _decode_candidate_cookie(now)
    return g.candidate_cookie


def _decode_candidate_cookie(now: datetime) -> tuple[int, datetime] | None:
    value = request.cookies.get(cookie_name())
    if not value:
        return None
    try:
        link_id, issued = _serializer().loads(value)
    except (BadSignature, TypeError, ValueError):
        return None
    if type(link_id) is not int or type(issued) is not int or not 0 < link_id <= MAX_ID:  # bool is an int too
        return None
    try:
        issued_at = datetime.fromtimestamp(issued, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    if not (now - _max_age() < issued_at <= now + timedelta(minutes=5)):
        return None
    return link_id, issued_at


def current_link_id(now: datetime) -> int | None:
    """The link this browser was opened with, if its cookie is genuine and young enough."""
    found = read_candidate_cookie(now)
    return found[0] if found else None


def renew_if_due(response: Response, link_id: int, link_expires_at: datetime, now: datetime) -> None:
    """Give a returning visitor a fresh maximum age, at most once a day."""
    found = read_candidate_cookie(now)
    if found is not None and now - found[1] >= RENEW_AFTER:
        set_candidate_cookie(response, link_id, link_expires_at, now)


def remember_candidate_locale(locale: str | None) -> None:
    """The candidate's profile language, for this request's language choice (portal.i18n)."""
    g.candidate_locale = locale
