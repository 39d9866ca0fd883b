"""The candidate's own signed cookie, separate from the HR session (R5)."""

from datetime import datetime

from flask import Response, current_app
from itsdangerous import BadSignature, URLSafeSerializer

MAX_COOKIE_SECONDS = 30 * 24 * 3600


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="candidate-link")


def cookie_name() -> str:
    return "__Host-kw_cand" if current_app.config["SECURE_COOKIES"] else "kw_cand"


def set_candidate_cookie(response: Response, link_id: int, expires_at: datetime, now: datetime) -> None:
    """Remember which link opened this browser, for no longer than the link itself lives."""
    seconds = int(min((expires_at - now).total_seconds(), MAX_COOKIE_SECONDS))
    response.set_cookie(
        cookie_name(), _serializer().dumps(link_id), max_age=seconds, path="/",
        secure=current_app.config["SECURE_COOKIES"], httponly=True, samesite="Lax",
    )


def link_id_from_cookie(value: str | None) -> int | None:
    """The link id the cookie was issued for, or None when it is missing or forged."""
    if not value:
        return None
    try:
        link_id = _serializer().loads(value)
    except BadSignature:
        return None
    return link_id if isinstance(link_id, int) else None
