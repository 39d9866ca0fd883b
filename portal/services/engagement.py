"""The one place that records an engagement event."""

import re
from datetime import datetime

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Candidate, EngagementEvent

_BOT = re.compile(
    r"bot|crawl|spider|preview|scan|slurp|facebookexternalhit|whatsapp|curl|wget|python-|"
    r"go-http|headless|safelinks|proofpoint|mimecast|barracuda|microsoft office",
    re.IGNORECASE,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk", re.IGNORECASE)
_MOBILE = re.compile(r"mobi|iphone|android|micromessenger|dingtalk", re.IGNORECASE)


_insert_event = sa.insert(EngagementEvent.__table__)
_touch_candidate = (
    sa.update(Candidate.__table__)
    .where(Candidate.__table__.c.id == sa.bindparam("candidate_id"))
    .values(last_seen_at=sa.bindparam("now"))
)


def device_class(user_agent: str | None) -> str:
    """A coarse device class; the raw user agent is never stored (R19)."""
    if not user_agent:
        return "unknown"
    if _BOT.search(user_agent):
        return "bot"
    if _TABLET.search(user_agent):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    return "desktop"


def record_event(candidate_id: int, kind: str, *, target: str = "", link_id: int | None = None,
                 device: str = "unknown", now: datetime) -> None:
    """Store one engagement event; real ones (not prefetches, not bots) also move last_seen_at."""
    if device == "bot":
        kind = "prefetch"
    # Core on the tables: this runs on every page view, and the ORM layer would double its cost.
    connection = db.session.connection()
    connection.execute(_insert_event, {"candidate_id": candidate_id, "link_id": link_id, "kind": kind,
                                       "target": target, "occurred_at": now, "device": device})
    if kind != "prefetch":
        connection.execute(_touch_candidate, {"candidate_id": candidate_id, "now": now})


def relax_durability() -> None:
    """Declare that this transaction holds engagement events only.

    On PostgreSQL the commit then returns before the WAL reaches the disk: a crash of the
    database server may lose the last second of page views, never anything a person typed.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL synchronous_commit = off"))
