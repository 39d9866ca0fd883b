"""Gunicorn access logs without candidate tokens (R9)."""

from gunicorn.glogging import Logger

from portal.redaction import redact


class RedactingLogger(Logger):
    """Access log atoms with the request line, path and referer redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "q"):
            value = atoms.get(key)
            if isinstance(value, str):
                atoms[key] = redact(value)
        return atoms
