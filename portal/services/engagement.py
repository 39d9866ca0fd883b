"""The one place that records an engagement event."""

from datetime import datetime

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Candidate, EngagementEvent, PortalLink
from portal.models.base import table_of
from portal.models.engagement import Device, EventKind

# Core on the tables: this runs on every page view, and the ORM layer would double its cost.
_insert_event = sa.insert(table_of(EngagementEvent))
_touch_candidate = (
    sa.update(table_of(Candidate))
    .where(table_of(Candidate).c.id == sa.bindparam("candidate_id"))
    .values(last_seen_at=sa.bindparam("now"))
)
_link = table_of(PortalLink)
_mark_link_opened = (
    sa.update(_link)
    .where(_link.c.id == sa.bindparam("link_id"), _link.c.first_opened_at.is_(None))
    .values(first_opened_at=sa.bindparam("now"))
)


def counts_as_visit(kind: str, device: str) -> bool:
    """Prefetches and bots (link scanners, chat previews) are stored but never count as a person's visit."""
    return kind != EventKind.PREFETCH and device != Device.BOT


def record_event(
    candidate_id: int,
    kind: str,
    *,
    target: str = "",
    link_id: int | None = None,
    device: str = Device.UNKNOWN,
    now: datetime,
) -> None:
    """Store one engagement event; real visits also move last_seen_at."""
    visit = counts_as_visit(kind, device)
    connection = db.session.connection()
    connection.execute(
        _insert_event,
        {
            "candidate_id": candidate_id,
            "link_id": link_id,
            "kind": kind if visit else EventKind.PREFETCH,
            "target": target,
            "occurred_at": now,
            "device": device,
        },
    )
    if visit:
        connection.execute(_touch_candidate, {"candidate_id": candidate_id, "now": now})


def record_view(
    candidate_id: int, link_id: int, kind: str, target: str, *, device: str, link_unopened: bool, now: datetime
) -> None:
    """A page of the candidate's was served; the first real visit through a link marks it opened."""
    if link_unopened and counts_as_visit(kind, device):
        db.session.connection().execute(_mark_link_opened, {"link_id": link_id, "now": now})
    record_event(candidate_id, kind, target=target, link_id=link_id, device=device, now=now)


def relax_durability() -> None:
    """Declare that this transaction holds engagement events only.

    On PostgreSQL the commit then returns before the WAL reaches the disk: a crash of the
    database server may lose the last second of page views, never anything a person typed.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL synchronous_commit = off"))
