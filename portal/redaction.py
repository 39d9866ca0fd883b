"""Candidate tokens out of every log line: access logs (portal.weblog) and the app's own (R9)."""

import hashlib
import re

_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
# Tokens are 43 URL-safe characters (services.links): any run of 40 or more is treated as one, wherever
# it stands (a path, a query string, a referer), since the app is not the only thing that reads logs.
_SECRET_RUN = re.compile(r"(?<![A-Za-z0-9_-])([A-Za-z0-9_-]{40,})")


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
    """Replace each token with ``#<first 8 hex of its SHA-256>``: traceable, not usable.

    Matched after percent-decoding (up to three times: a referer may carry the path encoded inside a
    query string), since the app accepts ``/c/%65…`` as the token ``e…``. The line itself is kept as it
    was sent apart from the tokens: decoding it could let a crafted %0A forge log lines.
    """
    found: list[tuple[int, int, int, str]] = []  # (start, end) in the line as sent, depth, replacement
    decoded, spans = text, [(i, i + 1) for i in range(len(text))]
    for depth in range(3):
        for match in _SECRET_RUN.finditer(decoded):
            digest = hashlib.sha256(match.group(1).encode()).hexdigest()[:8]
            found.append((spans[match.start(1)][0], spans[match.end(1) - 1][1], depth, "#" + digest))
        if "%" not in decoded:
            break
        decoded, spans = _decode_keeping_spans(decoded, spans)
    # A token found at several depths overlaps itself: cover the union, named as the most decoded one
    # reads it (at depth 0 the hex digits of an escape such as %2F still cling to it).
    merged: list[list] = []
    for start, end, depth, replacement in sorted(found):
        if merged and start < merged[-1][1]:
            if depth > merged[-1][2]:
                merged[-1][2:] = [depth, replacement]
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, depth, replacement])
    pieces, last = [], 0
    for start, end, _depth, replacement in merged:
        pieces += [text[last:start], replacement]
        last = end
    return "".join(pieces) + text[last:]
