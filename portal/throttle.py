"""Counting failures, never successes: the limits on guessing tokens and passwords.

Counts live in the rate limiter's storage (Redis; memory while Redis is unreachable, as for every
other limit). A storage that fails open: a broken Redis never stops a person who has the right link
or password.
"""

import logging
import math
import time

from flask import g
from limits import RateLimitItem, RateLimitItemPerSecond, parse

from portal.extensions import limiter

log = logging.getLogger(__name__)


def _safely(action, default):
    """Run one storage call; after a first failure the rest of the request skips the storage (one timeout at most)."""
    if g.get("limit_storage_failed"):
        return default
    try:
        return action()
    except Exception as error:  # noqa: BLE001 - a limit store that fails must not fail the request
        g.limit_storage_failed = True
        log.warning("rate-limit storage unavailable (%s); not limiting", type(error).__name__)
        return default


def count_failure(limit: str | RateLimitItem, *key: str) -> bool:
    """Count one failure under ``key``; False once ``limit`` is used up (this one included)."""
    item = parse(limit) if isinstance(limit, str) else limit
    return _safely(lambda: limiter.limiter.hit(item, *key), True)


def is_exhausted(limit: str, *key: str) -> bool:
    """Whether the failures under ``key`` have used ``limit`` up (nothing is counted)."""
    return not _safely(lambda: limiter.limiter.test(parse(limit), *key), True)


def failures(limit: str, *key: str) -> int:
    """How many failures under ``key`` the current window of ``limit`` holds."""
    item = parse(limit)
    return _safely(lambda: item.amount - limiter.limiter.get_window_stats(item, *key).remaining, 0)


def clear(limit: str, *key: str) -> None:
    _safely(lambda: limiter.limiter.clear(parse(limit), *key), None)


class GrowingDelay:
    """After ``free`` failures under a key, each further attempt waits 1, 2, 4 … ``cap`` seconds after the last.

    It slows guessing from many addresses without locking anyone out: whoever knows the password
    waits at most ``cap`` seconds (OWASP Authentication Cheat Sheet, "account lockout" alternatives).
    """

    def __init__(self, name: str, *, window_minutes: int, free: int, cap: int) -> None:
        # A limit that is never reached: only its count of failures within the window is read.
        self.window = f"1000000 per {window_minutes} minutes"
        self.name, self.free, self.cap = name, free, cap

    def _delay(self, count: int) -> int:
        return 0 if count < self.free else min(2 ** (count - self.free), self.cap)

    def _pause(self, delay: int) -> RateLimitItem:
        return RateLimitItemPerSecond(1, delay)

    def seconds_to_wait(self, key: str) -> int:
        """0 when an attempt may be made now, else how long until it may."""
        delay = self._delay(failures(self.window, self.name, key))
        if delay == 0:
            return 0
        stats = _safely(lambda: limiter.limiter.get_window_stats(self._pause(delay), self.name + "-pause", key), None)
        if stats is None or stats.remaining > 0:
            return 0
        return max(1, math.ceil(stats.reset_time - time.time()))

    def failed(self, key: str) -> None:
        count_failure(self.window, self.name, key)
        delay = self._delay(failures(self.window, self.name, key))
        if delay:
            count_failure(self._pause(delay), self.name + "-pause", key)

    def succeeded(self, key: str) -> None:
        clear(self.window, self.name, key)
