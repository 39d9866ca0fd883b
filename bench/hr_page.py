"""SQL statements and time of the HR candidate page, for a short history and a very long one.

    .venv/bin/python bench/hr_page.py                 # SQLite and PostgreSQL
    .venv/bin/python bench/hr_page.py --db sqlite --requests 200

For each database: migrate a fresh one, load the demo content, an admin and 19 colleagues, then add
two candidates with bulk inserts: one with a short history, one with 10,000 engagement events, 200
stage events, 100 contacts, 100 notes, 200 closed flags, 100 links and 500 audit events by 20
different people. Log in through the real login form, then send
``GET /hr/candidates/<id>`` (and ``?visits=2``, the visits list's second page) through
``app.test_client()``, counting every statement at the cursor. The counts must be the same for
every row; the script exits with 1 when they are not. See bench/README.md.
"""

import os
import resource
import secrets
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import harness
from harness import log

ADMIN_EMAIL = "bench-admin@example.com"


@dataclass(frozen=True)
class History:
    engagement: int
    moves: int  # stage events
    contacts: int
    notes: int
    closed_flags: int  # and one open flag
    links: int  # all but the newest revoked
    audit: int
    staff: int  # distinct people who did all this: a lazy load per row would show as more statements

    def describe(self) -> str:
        return (
            f"{self.engagement:,} engagement events, {self.moves} stage events, {self.contacts} contacts, "
            f"{self.notes} notes, {self.closed_flags} closed flags + 1 open, {self.links} links, "
            f"{self.audit} audit events, by {self.staff} staff"
        )


SHORT = History(engagement=5, moves=3, contacts=1, notes=1, closed_flags=1, links=1, audit=3, staff=1)
LONG = History(engagement=10_000, moves=200, contacts=100, notes=100, closed_flags=200, links=100, audit=500, staff=20)


@dataclass
class Row:
    label: str
    url: str
    statements: list[int]  # per measured request
    median_ms: float
    others_share: float  # of the machine, used by other processes while measuring
    sample: list[str]  # the statements of one request, for a diff when counts differ


# --------------------------------------------------------------------------------------------
# Data: the demo content, an admin, and one candidate per history, written with bulk inserts
# --------------------------------------------------------------------------------------------


def add_candidate(name: str, history: History, staff_ids: list[int], now) -> int:
    """A candidate with ``history``, spread over 60 days up to an hour ago, one bulk insert per table; its id."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import (
        AuditEvent,
        Candidate,
        CandidateNote,
        Contact,
        EngagementEvent,
        Flag,
        PortalLink,
        Stage,
        StageEvent,
    )

    stage_ids = db.session.scalars(sa.select(Stage.id).order_by(Stage.position)).all()
    staff = staff_ids[: history.staff]
    candidate = Candidate(name=name, owner_id=staff[0], created_at=now - timedelta(days=90))
    db.session.add(candidate)
    db.session.flush()
    cid = candidate.id

    def spread(count: int) -> list[tuple[int, datetime, int]]:
        """(n, time, staff id) for ``count`` events, oldest first."""
        step = timedelta(days=60) / count
        return [(n, now - timedelta(hours=1) - step * (count - 1 - n), staff[n % len(staff)]) for n in range(count)]

    def insert(model, rows: list[dict]) -> None:
        db.session.execute(sa.insert(model), rows)

    insert(PortalLink, [
        {"candidate_id": cid, "token_hash": secrets.token_hex(32), "channel": ("sms", "email", "qr")[n % 3],
         "issued_at": at, "issued_by_id": by, "first_opened_at": at + timedelta(minutes=5),
         "expires_at": at + timedelta(days=30),
         "revoked_at": None if n == history.links - 1 else at + timedelta(days=1)}
        for n, at, by in spread(history.links)
    ])  # fmt: skip
    link_ids = db.session.scalars(
        sa.select(PortalLink.id).where(PortalLink.candidate_id == cid).order_by(PortalLink.id)
    ).all()
    insert(EngagementEvent, [
        {"candidate_id": cid, "link_id": link_ids[n * len(link_ids) // history.engagement],
         "kind": ("view", "story", "checklist")[n % 3], "target": "page", "occurred_at": at,
         "device": ("mobile", "desktop")[n % 2]}
        for n, at, _by in spread(history.engagement)
    ])  # fmt: skip
    moves = spread(history.moves)
    insert(StageEvent, [
        {"candidate_id": cid, "stage_id": stage_ids[n % len(stage_ids)], "reached_at": at, "actor_id": by,
         "note": f"move {n}"}
        for n, at, by in moves
    ])  # fmt: skip
    contacts = spread(history.contacts)
    insert(Contact, [
        {"candidate_id": cid, "channel": "phone", "outcome": "reached", "contacted_at": at, "actor_id": by,
         "tier": "A", "next_due_on": (at + timedelta(days=7)).date(), "note": f"call {n}"}
        for n, at, by in contacts
    ])  # fmt: skip
    insert(CandidateNote, [
        {"candidate_id": cid, "author_id": by, "written_at": at, "body": f"note {n}"}
        for n, at, by in spread(history.notes)
    ])  # fmt: skip
    insert(Flag, [
        {"candidate_id": cid, "rule": "gone_quiet", "severity": "warning", "reason": "bench", "evidence_at": at,
         "raised_at": at, "resolved_at": at + timedelta(hours=2), "resolved_by_id": by, "outcome": "reached_by_phone"}
        for n, at, by in spread(history.closed_flags)
    ])  # fmt: skip
    db.session.add(Flag(candidate_id=cid, rule="link_not_opened", severity="warning", reason="bench", raised_at=now))
    insert(AuditEvent, [
        {"at": at, "actor_user_id": by, "action": "candidate.stage", "object_type": "candidate", "object_id": cid,
         "detail": f"change {n}"}
        for n, at, by in spread(history.audit)
    ])  # fmt: skip
    candidate.current_stage_id = stage_ids[(history.moves - 1) % len(stage_ids)]
    candidate.stage_reached_at = moves[-1][1]
    candidate.link_issued_at = spread(history.links)[-1][1]
    candidate.last_seen_at = now - timedelta(hours=1)
    candidate.last_reached_at = contacts[-1][1]
    candidate.next_contact_on = (contacts[-1][1] + timedelta(days=7)).date()
    return cid


def populate(app, password: str) -> dict[History, tuple[int, str]]:
    """Migrate, seed the demo, add the admin, colleagues and the two candidates; (id, name) by history."""
    import sqlalchemy as sa

    from portal.demo import seed
    from portal.extensions import db
    from portal.models import User, utcnow
    from portal.services.staff import create_user

    now = utcnow()
    with app.app_context():
        harness.migrate_fresh()
        seed(now)
        admin = create_user(ADMIN_EMAIL, name="Bench Admin", password=password, role="admin", now=now)
        colleagues = [
            {"email": f"bench-hr-{n}@example.com", "name": f"同事{n}", "password_hash": "!", "role": "hr"}
            for n in range(LONG.staff - 1)
        ]
        db.session.execute(sa.insert(User), colleagues)
        staff_ids = [admin.id, *db.session.scalars(sa.select(User.id).where(User.email.like("bench-hr-%")))]
        names = {SHORT: "短历史", LONG: "长历史"}
        candidates = {history: (add_candidate(name, history, staff_ids, now), name) for history, name in names.items()}
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum would after a load
        db.session.remove()
    return candidates


# --------------------------------------------------------------------------------------------
# Requests: log in through the form, then count and time the page
# --------------------------------------------------------------------------------------------


class CpuSnapshot(NamedTuple):
    wall: float
    machine: float  # CPU-seconds the whole machine was busy
    own: float  # CPU-seconds of this process
    postgres: dict[int, float]  # CPU-seconds of each postgres process, by pid


def cpu_snapshot() -> CpuSnapshot:
    import psutil

    machine = psutil.cpu_times()
    own = resource.getrusage(resource.RUSAGE_SELF)
    return CpuSnapshot(
        time.monotonic(),
        machine.user + machine.nice + machine.system + machine.irq + machine.softirq + machine.steal,
        own.ru_utime + own.ru_stime,
        harness.cpu_by_process(("postgres",)),
    )


def others_share(before: CpuSnapshot, after: CpuSnapshot, backends: set[int]) -> float:
    """The share of the machine that other work used between two snapshots: all but this process and the
    PostgreSQL ``backends`` it talked to (a test suite's backends on the same server are other work)."""
    database = sum(after.postgres.get(pid, 0.0) - before.postgres.get(pid, 0.0) for pid in backends)
    ours = after.own - before.own + database
    capacity = (after.wall - before.wall) * (os.cpu_count() or 1)
    return max(after.machine - before.machine - ours, 0.0) / capacity


def measure(app, client, label: str, url: str, expected: tuple[str, ...], requests: int) -> Row:
    """``requests`` GETs of ``url`` (after 3 unmeasured ones), each one's statements counted at the cursor;
    each answer must hold the ``expected`` strings."""
    import sqlalchemy as sa

    from portal.extensions import db

    with app.app_context():
        engine = db.engine
    current: list[str] = []
    backends: set[int] = set()

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        current.append(" ".join(statement.split()))

    def checkout(dbapi_connection, connection_record, connection_proxy):
        if engine.dialect.name == "postgresql":
            backends.add(dbapi_connection.info.backend_pid)  # psycopg

    counts, times, sample = [], [], []
    for _ in range(3):
        client.get(url)
    sa.event.listen(engine, "before_cursor_execute", before_cursor_execute)
    sa.event.listen(engine, "checkout", checkout)
    start = cpu_snapshot()
    try:
        for _ in range(requests):
            current.clear()
            began = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - began)
            page = response.get_data(as_text=True)
            if response.status_code != 200 or not all(text in page for text in expected):
                raise harness.BenchFailure(f"{url} answered {response.status_code} without {expected}")
            counts.append(len(current))
            sample = list(current)
    finally:
        sa.event.remove(engine, "before_cursor_execute", before_cursor_execute)
        sa.event.remove(engine, "checkout", checkout)
    others = others_share(start, cpu_snapshot(), backends)
    return Row(label, url, counts, statistics.median(times) * 1000, others, sample)


def measure_database(name: str, args, workdir) -> list[Row]:
    password = secrets.token_urlsafe(16)
    app = harness.make_app(harness.app_environment(harness.database_url(name, args, workdir)))
    started = time.monotonic()
    candidates = populate(app, password)
    log(f"  fresh database, demo content and both candidates: {time.monotonic() - started:.1f} s")
    client = harness.signed_in_client(app, ADMIN_EMAIL, password)
    rows = []
    for label, history, query in (("short", SHORT, ""), ("long", LONG, ""), ("long, ?visits=2", LONG, "?visits=2")):
        candidate_id, name = candidates[history]
        expected = (name, "visits=1") if query else (name,)  # page 2 links back to page 1
        rows.append(measure(app, client, label, f"/hr/candidates/{candidate_id}{query}", expected, args.requests))
        log(f"  {label:<16} {rows[-1].statements[-1]} statements, {rows[-1].median_ms:.1f} ms")
    with app.app_context():
        from portal.extensions import db

        db.engine.dispose()
    return rows


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def short_form(statement: str) -> str:
    """A statement's start and end: which table, and the WHERE that tells a lazy load from a list."""
    return statement if len(statement) <= 110 else f"{statement[:60]} … {statement[-45:]}"


def differences(base: Row, row: Row) -> list[str]:
    """The statements one row sends more or fewer times than ``base``, counted."""
    a, b = Counter(map(short_form, base.sample)), Counter(map(short_form, row.sample))
    return [f"    {b[s] - a[s]:+d}x {s}" for s in sorted(set(a) | set(b)) if a[s] != b[s]]


def table(results: dict[str, list[Row]], skipped: dict[str, str], requests: int) -> tuple[list[str], bool]:
    lines = [
        "",
        f"GET /hr/candidates/<id> as an admin, app.test_client(); median of {requests} requests after 3 unmeasured.",
        f"short: {SHORT.describe()}",
        f"long:  {LONG.describe()}",
        "'others': share of the machine other processes used while measuring (above 10 %: disturbed).",
        "",
        f"{'database':<11} {'history':<16} {'statements':>10} {'median ms':>10} {'others':>7}",
    ]
    all_equal = True
    for database, rows in results.items():
        for row in rows:
            counts = sorted(set(row.statements))
            shown = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
            lines.append(
                f"{database:<11} {row.label:<16} {shown:>10} {row.median_ms:>10.1f} {row.others_share:>7.0%}"
                + ("  <- disturbed" if row.others_share > harness.BUSY_LIMIT else "")
            )
        counts = {count for row in rows for count in row.statements}
        equal = len(counts) == 1
        all_equal &= equal
        lines.append(f"{'':<11} statement counts equal: {'yes' if equal else 'NO'}")
        for row in rows[1:]:
            if diff := differences(rows[0], row):
                lines += [f"    {row.label} against {rows[0].label}:", *diff]
    for database, reason in skipped.items():
        lines.append(f"{database:<11} skipped: {reason}")
    return lines, all_equal


def main(argv: list[str] | None = None) -> int:
    parser = harness.argument_parser(__doc__, "keepwarm_hr_bench")
    parser.add_argument("--requests", type=int, default=50, help="measured requests per row (default 50)")
    args = parser.parse_args(argv)
    databases, skipped = harness.chosen_databases(args)
    log(f"Keepwarm HR page bench: {harness.software('Flask', 'SQLAlchemy')}")
    with harness.scratch_folder("keepwarm-hr-bench-") as workdir:
        results = harness.measure_each(databases, skipped, lambda name: measure_database(name, args, workdir))
    lines, all_equal = table(results, skipped, args.requests)
    harness.report(lines, "hr-page-last-run.txt")
    failed = any(reason.startswith("FAILED") for reason in skipped.values())
    return 0 if all_equal and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
