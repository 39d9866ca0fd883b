"""Gunicorn access logs without candidate tokens (R9)."""

import hashlib
import re

from gunicorn.glogging import Logger

_TOKEN_PATH = re.compile(r"/c/([A-Za-z0-9_-]+)")


def redact(text: str) -> str:
    """Replace each ``/c/<token>`` with ``/c/#<first 8 hex of its SHA-256>``: traceable, not usable."""
    return _TOKEN_PATH.sub(lambda m: "/c/#" + hashlib.sha256(m.group(1).encode()).hexdigest()[:8], text)


class RedactingLogger(Logger):
    """Access log atoms with the request line, path and referer redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "q"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
