"""The one place that records an engagement event."""

from datetime import datetime

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Candidate, EngagementEvent, PortalLink
from portal.models.base import table_of
from portal.models.engagement import Device, EventKind

# Core on the tables: this runs on every page view, and the ORM layer would double its cost. The
# parameters are named after no column: SQLAlchemy would add a column-named one to an UPDATE's SET.
_event, _candidate, _link = table_of(EngagementEvent), table_of(Candidate), table_of(PortalLink)
_EVENT_PARAMETERS = {  # column -> parameter
    "candidate_id": "candidate",
    "link_id": "link",
    "kind": "kind",
    "target": "target",
    "occurred_at": "at",
    "device": "device",
}
_insert_event = sa.insert(_event).values({column: sa.bindparam(name) for column, name in _EVENT_PARAMETERS.items()})
_touch_candidate = (
    sa.update(_candidate).where(_candidate.c.id == sa.bindparam("candidate")).values(last_seen_at=sa.bindparam("at"))
)
_mark_link_opened = (
    sa.update(_link)
    .where(_link.c.id == sa.bindparam("link"), _link.c.first_opened_at.is_(None))
    .values(first_opened_at=sa.bindparam("at"))
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
    values = _event_values(candidate_id, kind, target, link_id, device, now)
    connection = db.session.connection()
    connection.execute(_insert_event, values)
    if counts_as_visit(kind, device):
        connection.execute(_touch_candidate, values)


def _event_values(candidate_id, kind, target, link_id, device, now) -> dict:
    """The statements' parameters; what is no visit is stored as a prefetch."""
    kind = kind if counts_as_visit(kind, device) else EventKind.PREFETCH
    return {"candidate": candidate_id, "link": link_id, "kind": kind, "target": target, "device": device, "at": now}


def begin_page_view() -> None:
    """For a request that only reads, then records its view: on PostgreSQL, run it without a transaction.

    Each statement is then its own transaction, so a page costs two round trips (its read and
    record_view's one statement) instead of seven (BEGIN, two reads, SET LOCAL, two writes, COMMIT).
    SQLite has no round trips, and there one transaction with one commit is the cheaper way.
    Call it before the request's first statement.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def record_view(
    candidate_id: int, link_id: int, kind: str, target: str, *, device: str, link_unopened: bool, now: datetime
) -> None:
    """A page of the candidate's was served; the first real visit through a link marks it opened.

    Only after begin_page_view. On PostgreSQL it is one statement, committed on its own, and as it
    holds engagement only, that commit is relaxed: it returns before the WAL reaches the disk, so a
    crash of the database server may lose the last second of page views, never anything a person
    typed. SQLite, which has no writing CTEs and no round trips, takes two or three statements.
    """
    connection = db.session.connection()
    visit = counts_as_visit(kind, device)
    mark_opened = link_unopened and visit
    if connection.dialect.name == "postgresql":
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            raise RuntimeError("record_view needs begin_page_view: its relaxed commit must hold nothing else")
        connection.execute(
            _PG_VIEW_STATEMENTS[visit, mark_opened], _event_values(candidate_id, kind, target, link_id, device, now)
        )
        return
    if mark_opened:
        connection.execute(_mark_link_opened, {"link": link_id, "at": now})
    record_event(candidate_id, kind, target=target, link_id=link_id, device=device, now=now)


def _pg_view_statement(visit: bool, mark_opened: bool) -> sa.Insert:
    """record_view as one PostgreSQL statement: relax this commit, update what the view updates, insert the event."""
    relaxed = sa.select(sa.func.set_config("synchronous_commit", "off", sa.true()).label("setting")).cte("relaxed")
    values = sa.select(
        *(sa.bindparam(name, type_=_event.c[column].type) for column, name in _EVENT_PARAMETERS.items())
    ).select_from(relaxed)
    statement = sa.insert(_event).from_select(list(_EVENT_PARAMETERS), values)
    if visit:
        statement = statement.add_cte(_touch_candidate.cte("touched"))
    if mark_opened:
        statement = statement.add_cte(_mark_link_opened.cte("opened"))
    return statement


_PG_VIEW_STATEMENTS = {
    (visit, mark_opened): _pg_view_statement(visit, mark_opened)
    for visit, mark_opened in ((True, True), (True, False), (False, False))  # only a visit opens a link
}
