"""Small helpers every blueprint's views share: request arguments, redirects, htmx, device class."""

import re
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import make_response, request
from werkzeug.routing import IntegerConverter

from portal.models.engagement import Device

# The largest id a database integer column holds (PostgreSQL's integer; SQLite's is wider). Anything
# larger is an unknown id like any other, never an overflow deep in the database driver.
MAX_ID = 2**31 - 1
MAX_PAGE = 100_000


class IdConverter(IntegerConverter):
    """``<int:…>`` in routes: a larger number than any id does not match, so the URL answers 404."""

    def __init__(self, map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def id_arg(name: str, source=None) -> int | None:
    """An id from the query string (or ``source``): None when missing, not a number, or out of range."""
    value = (source if source is not None else request.args).get(name, type=int)
    return value if value is not None and 0 < value <= MAX_ID else None


def page_arg(name: str = "page") -> int:
    """The ?page= number (or another list's ?<name>=), clamped: nonsense or absurd values never reach the database."""
    page = request.args.get(name, 1, type=int)
    return min(max(page, 1), MAX_PAGE)


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


def htmx_request() -> bool:
    """Whether htmx sent this request (htmx-flask's ``request.htmx``, which the type checker cannot see)."""
    return bool(request.htmx)  # type: ignore[attr-defined]


def htmx_history_restore() -> bool:
    """htmx asks for a whole page to restore its history (Back after a pushed URL)."""
    return htmx_request() and bool(request.htmx.history_restore_request)  # type: ignore[attr-defined]


def htmx_aware(view: Callable) -> Callable:
    """Mark a view whose answer depends on HX-Request, so caches keep the two apart."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        response.vary.add("HX-Request")
        return response

    return wrapper


_BOT = re.compile(
    r"bot|crawl|spider|preview|scan|slurp|facebookexternalhit|whatsapp|curl|wget|python-|"
    r"go-http|headless|safelinks|proofpoint|mimecast|barracuda|microsoft office",
    re.IGNORECASE,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk", re.IGNORECASE)
_MOBILE = re.compile(r"mobi|iphone|android|micromessenger|dingtalk", re.IGNORECASE)


def device_class(user_agent: str | None = None) -> Device:
    """A coarse device class of this request (or of ``user_agent``); the raw user agent is never stored (R19)."""
    if user_agent is None:
        user_agent = request.user_agent.string
    if not user_agent:
        return Device.UNKNOWN
    if _BOT.search(user_agent):
        return Device.BOT
    if _TABLET.search(user_agent):
        return Device.TABLET
    if _MOBILE.search(user_agent):
        return Device.MOBILE
    return Device.DESKTOP
