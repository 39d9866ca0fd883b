"""Counting failures, never successes: the limits on guessing tokens and passwords.

Built on ``limits`` (the library under Flask-Limiter) and called only where a failure happens, so a
page that fails nothing pays nothing. Counts live in Redis (RATELIMIT_STORAGE_URI); while Redis
cannot be reached, in this process's memory, and Redis is tried again after RETRY_SECONDS. A
storage that fails never stops a person who has the right link or password.
"""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from flask import current_app
from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger(__name__)
RETRY_SECONDS = 30
T = TypeVar("T")


@dataclass
class _Counters:
    shared: FixedWindowRateLimiter
    local: FixedWindowRateLimiter = field(default_factory=lambda: FixedWindowRateLimiter(MemoryStorage()))
    shared_down_until: float = 0.0


def _counters() -> _Counters:
    counters = current_app.extensions.get("keepwarm_throttle")
    if counters is None:
        config = current_app.config
        storage = storage_from_string(config["RATELIMIT_STORAGE_URI"], **config["RATELIMIT_STORAGE_OPTIONS"])
        counters = current_app.extensions["keepwarm_throttle"] = _Counters(FixedWindowRateLimiter(storage))
    return counters


def _safely(action: Callable[[FixedWindowRateLimiter], T]) -> T:
    """Run one call against Redis, or against memory while Redis is down (one timeout per RETRY_SECONDS)."""
    counters = _counters()
    if time.monotonic() >= counters.shared_down_until:
        try:
            return action(counters.shared)
        except Exception as error:  # noqa: BLE001 - a limit store that fails must not fail the request
            counters.shared_down_until = time.monotonic() + RETRY_SECONDS
            log.warning("rate-limit storage unavailable (%s); counting in memory", type(error).__name__)
    return action(counters.local)


def count_failure(limit: str | RateLimitItem, *key: str) -> bool:
    """Count one failure under ``key``; False once ``limit`` is used up (this one included)."""
    item = parse(limit) if isinstance(limit, str) else limit
    return _safely(lambda counter: counter.hit(item, *key))


def is_exhausted(limit: str, *key: str) -> bool:
    """Whether the failures under ``key`` have used ``limit`` up (nothing is counted)."""
    return not _safely(lambda counter: counter.test(parse(limit), *key))


def failures(limit: str, *key: str) -> int:
    """How many failures under ``key`` the current window of ``limit`` holds."""
    item = parse(limit)
    return _safely(lambda counter: item.amount - counter.get_window_stats(item, *key).remaining)


def clear(limit: str, *key: str) -> None:
    _safely(lambda counter: counter.clear(parse(limit), *key))


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
        stats = _safely(lambda counter: counter.get_window_stats(self._pause(delay), self.name + "-pause", key))
        if stats.remaining > 0:
            return 0
        return max(1, math.ceil(stats.reset_time - time.time()))

    def failed(self, key: str) -> None:
        count_failure(self.window, self.name, key)
        delay = self._delay(failures(self.window, self.name, key))
        if delay:
            count_failure(self._pause(delay), self.name + "-pause", key)

    def succeeded(self, key: str) -> None:
        clear(self.window, self.name, key)
