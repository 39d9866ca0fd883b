"""Gunicorn access logs without candidate tokens (R9)."""

import hashlib
import re

from gunicorn.glogging import Logger

_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
# As the app routes it after decoding: /c/<token>, slashes doubled or not (werkzeug merges them).
_TOKEN_PATH = re.compile(r"/+c/+([A-Za-z0-9_-]+)")


def _decode_keeping_spans(text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with %XX decoded once, and for each character the span of the original it came from."""
    chars, decoded_spans, i = [], [], 0
    while i < len(text):
        escape = _PERCENT.match(text, i)
        end = escape.end() if escape else i + 1
        chars.append(chr(int(escape.group(1), 16)) if escape else text[i])
        decoded_spans.append((spans[i][0], spans[end - 1][1]))
        i = end
    return "".join(chars), decoded_spans


def redact(text: str) -> str:
    """Replace each token in ``/c/<token>`` with ``#<first 8 hex of its SHA-256>``: traceable, not usable.

    Matched after percent-decoding (up to three times: a referer may carry the path encoded inside a
    query string), since the app accepts ``/c/%65…`` as the token ``e…``. The line itself is kept as it
    was sent apart from the tokens: decoding it could let a crafted %0A forge log lines.
    """
    found: dict[tuple[int, int], str] = {}
    decoded, spans = text, [(i, i + 1) for i in range(len(text))]
    for _ in range(3):
        for match in _TOKEN_PATH.finditer(decoded):
            span = (spans[match.start(1)][0], spans[match.end(1) - 1][1])
            found[span] = "#" + hashlib.sha256(match.group(1).encode()).hexdigest()[:8]
        if "%" not in decoded:
            break
        decoded, spans = _decode_keeping_spans(decoded, spans)
    # A token matched at several depths overlaps itself: cover the union, named by the longest match.
    merged: list[list] = []
    for (start, end), replacement in sorted(found.items()):
        if merged and start < merged[-1][1]:
            if end - start > merged[-1][3]:
                merged[-1][2:] = [replacement, end - start]
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, replacement, end - start])
    pieces, last = [], 0
    for start, end, replacement, _length in merged:
        pieces += [text[last:start], replacement]
        last = end
    return "".join(pieces) + text[last:]


class RedactingLogger(Logger):
    """Access log atoms with the request line, path and referer redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "q"):
            value = atoms.get(key)
            if isinstance(value, str):
                atoms[key] = redact(value)
        return atoms
