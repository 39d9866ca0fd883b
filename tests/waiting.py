"""Waiting for something to happen, by asking until it has (never a fixed sleep)."""

import time


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05, what: str | None = None):
    """Call ``condition`` until it returns something truthy and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what or condition.__name__}")
        time.sleep(interval)
