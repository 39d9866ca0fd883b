"""Risk-scan benchmark: one full scan of 100,000 and 1,000,000 candidates, on SQLite and PostgreSQL.

    .venv/bin/python bench/scan.py                      # 100,000 and 1,000,000 candidates, both databases
    .venv/bin/python bench/scan.py --quick              # 10,000 candidates
    .venv/bin/python bench/scan.py --db sqlite --sizes 100000

For each database and size: migrate a fresh database, bulk-load the candidates (the demo pipeline's
stages, a few cohorts, one or two links and ~10 engagement events each, ~10 % of them matching a
rule), then time ``run_scan(now)`` + commit twice in a fresh process: first when it raises flags
for ~10 % of the candidates, then at now + 1 minute, when nothing changed. See bench/README.md.
"""

import argparse
import json
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import harness
from harness import ROOT, log

CHUNK = 50_000  # candidates per load batch (each brings ~10 engagement events and 1-4 stage events)
GOAL_RAISES_S, GOAL_QUIET_S = 5.0, 3.0  # for 1,000,000 candidates
H, D = 3600.0, 86400.0

# Share of candidates per situation; every one but "fine" and "reached_by_hr" matches exactly one rule.
MIX = (
    ("gone_quiet", 0.06),  # last visit 3-10 days ago (urgent after 7)
    ("never_opened", 0.01),  # one link, issued 25 h - 10 days ago, never opened
    ("new_link_unopened", 0.01),  # visited with an older link; a newer one, issued 25-47 h ago, not opened
    ("company_side_overdue", 0.01),  # background check (company side, 5 days) reached 6-11 days ago
    ("training_notice_not_seen", 0.01),  # notice reached after the last visit; cohort starts tomorrow
    ("attendance_not_confirmed", 0.01),  # in tomorrow's cohort, visiting, never tapped "I will be there"
    ("reached_by_hr", 0.03),  # last visit 4-10 days ago, but HR reached them by phone in the last 2 days
    ("fine", 0.87),  # (tomorrow's cohort's members among them confirmed)
)
RULE_OF = {
    "gone_quiet": "gone_quiet",
    "never_opened": "link_not_opened",
    "new_link_unopened": "link_not_opened",
    "company_side_overdue": "company_side_overdue",
    "training_notice_not_seen": "training_notice_not_seen",
    "attendance_not_confirmed": "attendance_not_confirmed",
}


def rss_mb() -> float:
    """This process's resident-set high-water mark (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def postgres_cpu() -> float:
    """CPU seconds used so far by every postgres process (the server's share of a scan)."""
    return sum(harness.cpu_by_process(("postgres",)).values())


# --------------------------------------------------------------------------------------------
# Data: stages, cohorts, then candidates with links, stage events and engagement events
# --------------------------------------------------------------------------------------------


@dataclass
class Generated:
    candidates: int = 0
    links: int = 0
    stage_events: int = 0
    engagement_events: int = 0
    expected: dict = field(default_factory=dict)  # rule -> candidates generated to match it
    seconds: float = 0.0
    writing: float = 0.0  # of which the batches' INSERT / COPY and commits


class Loader:
    """Collects rows per table and writes them in batches: PostgreSQL ``COPY``, SQLite an executemany of the
    Core ``insert()`` of the table.

    Every value is already in the text form the database stores: timestamps as naive UTC
    ``YYYY-MM-DD HH:MM:SS.ffffff`` on SQLite (SQLAlchemy's SQLite DateTime format, which the scan's bound
    parameters compare against as text) and with ``+00`` on PostgreSQL. So the SQLite batch goes to the driver
    as tuples (``exec_driver_sql`` of the compiled ``insert()``) without SQLAlchemy's per-value bind
    processing, which more than doubled the load time; PostgreSQL gets tab-separated lines.
    """

    def __init__(self, session, columns: dict):
        import sqlalchemy as sa

        self.session = session
        self.columns = columns  # table name -> [column names]
        self.rows = {name: [] for name in columns}
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.seconds = 0.0  # spent writing
        dialect = session.get_bind().dialect
        self.inserts = {
            name: str(sa.insert(sa.table(name, *(sa.column(c) for c in cols))).compile(dialect=dialect))
            for name, cols in columns.items()
        }

    def flush(self) -> None:
        started = time.perf_counter()
        connection = self.session.connection()
        for name, columns in self.columns.items():
            rows = self.rows[name]
            if not rows:
                continue
            if self.postgres:
                raw = connection.connection.driver_connection
                text = "".join(
                    "\t".join("\\N" if value is None else str(value) for value in row) + "\n" for row in rows
                )
                with raw.cursor() as cursor:
                    with cursor.copy(f'COPY "{name}" ({", ".join(columns)}) FROM STDIN') as copy:
                        copy.write(text)
            else:
                connection.exec_driver_sql(self.inserts[name], rows)
            rows.clear()
        self.session.commit()
        self.seconds += time.perf_counter() - started


COLUMNS = {  # the order the generator writes; checked against the models
    "candidate": [
        "id",
        "name",
        "phone",
        "email",
        "position",
        "site",
        "source_channel",
        "owner_id",
        "status",
        "risk_tier_override",
        "risk_tier_override_by_id",
        "risk_tier_override_at",
        "tags",
        "locale",
        "current_stage_id",
        "stage_reached_at",
        "cohort_id",
        "last_seen_at",
        "link_issued_at",
        "last_reached_at",
        "next_contact_on",
        "created_at",
        "started_at",
        "left_at",
        "left_kind",
        "left_reason_id",
        "recontact_on",
        "left_note",
        "messages_stopped_at",
        "district",
        "store_id",
        "attendance_confirmed_at",
        "calendar_revision",
    ],
    "portal_link": [
        "id",
        "candidate_id",
        "token_hash",
        "channel",
        "issued_at",
        "issued_by_id",
        "first_opened_at",
        "revoked_at",
        "expires_at",
    ],
    "stage_event": ["id", "candidate_id", "stage_id", "reached_at", "actor_id", "note"],
    "engagement_event": ["id", "candidate_id", "link_id", "kind", "target", "occurred_at", "device"],
}


def generate(app, count: int, now: datetime, seed: int = 20240601) -> Generated:
    """Migrate a fresh database and load ``count`` candidates, every time relative to ``now``."""
    import sqlalchemy as sa

    from portal.demo import STAGES
    from portal.extensions import db
    from portal.models import Cohort, Stage, User

    started = time.perf_counter()
    out = Generated(expected=dict.fromkeys(dict.fromkeys(RULE_OF.values()), 0))
    rng = random.Random(seed)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        harness.migrate_fresh()
        harness.check_columns(COLUMNS, "bench/scan.py")
        session = db.session
        session.execute(
            sa.insert(User),
            [
                {
                    "id": 1,
                    "email": "hr@example.com",
                    "name": "周晓雯",
                    "role": "hr",
                    "password_hash": "!",
                    "created_at": now - timedelta(days=400),
                }
            ],
        )
        stage_keys = [key for key, *_ in STAGES]
        stage_ids = {key: position + 1 for position, key in enumerate(stage_keys)}
        session.execute(
            sa.insert(Stage),
            [
                {
                    "id": position + 1,
                    "key": key,
                    "position": position,
                    "label_zh": label_zh,
                    "label_en": label_en,
                    "side": side,
                    "expected_days": days,
                    "description_zh": desc_zh,
                    "description_en": desc_en,
                }
                for position, (key, label_zh, label_en, side, days, desc_zh, desc_en) in enumerate(STAGES)
            ],
        )
        # Cohort 1 starts tomorrow (inside the 48-hour training-notice window), the others a week apart after it.
        today = now.astimezone(ZoneInfo(app.config["TIMEZONE"])).date()
        cohort_ids = [1, 2, 3, 4, 5, 6]
        session.execute(
            sa.insert(Cohort),
            [
                {
                    "id": number,
                    "name": f"Cohort {number}",
                    "starts_on": today + timedelta(days=7 * number - 6),
                    "ends_on": today + timedelta(days=7 * number - 2),
                    "place_zh": "上海浦东培训中心",
                    "place_en": "Shanghai Pudong Training Centre",
                    "address": "上海市浦东新区张杨路 500 号",
                }
                for number in cohort_ids
            ],
        )
        session.commit()
        soon_cohort = cohort_ids[0]

        loader = Loader(session, COLUMNS)
        if postgres:
            # The rows are consistent by construction: skip the per-row foreign-key triggers during the load.
            session.execute(sa.text("SET session_replication_role = replica"))
        else:
            session.commit()
            session.connection().exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction: it applies
            session.connection().exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MB for the random index inserts
        tags = "[]"
        base = now.astimezone(UTC).replace(tzinfo=None)
        zone = "+00" if postgres else ""  # the stored text form, see Loader

        def ago(seconds):
            return (base - timedelta(seconds=seconds)).isoformat(" ", "microseconds") + zone

        limits, total = [], 0.0
        for situation, share in MIX:
            total += share
            limits.append((total, situation))
        link_id = stage_event_id = event_id = 0
        rows_c, rows_l = loader.rows["candidate"], loader.rows["portal_link"]
        rows_s, rows_e = loader.rows["stage_event"], loader.rows["engagement_event"]
        uniform, draw = rng.uniform, rng.random
        fine_stages = (
            (0.3, "passed"),
            (0.5, "background_check"),
            (0.7, "training_notice"),
            (0.9, "onboarding_prep"),
            (1.01, "training_start"),
        )
        for candidate_id in range(1, count + 1):
            pick = draw()
            situation = next((name for limit, name in limits if pick < limit), "fine")
            if situation in RULE_OF:
                out.expected[RULE_OF[situation]] += 1
            created = uniform(12 * D, 40 * D)  # seconds ago, like every time below
            cohort_id = cohort_ids[int(draw() * 6)] if draw() < 0.9 else None
            second_link = last_reached = None
            revoke_first = draw() < 0.5
            if situation == "gone_quiet":
                last_seen = uniform(3 * D + H, 7 * D - H) if draw() < 0.6 else uniform(7 * D + H, 10 * D)
                stage = "passed" if draw() < 0.5 else "onboarding_prep"
                reached = created if stage == "passed" else uniform(H, created - D)
                if draw() < 0.3:  # reached by HR before that last visit: still quiet, counted from the visit
                    last_reached = last_seen + uniform(H, D)
            elif situation == "reached_by_hr":
                last_seen, last_reached = uniform(4 * D, 10 * D), uniform(H, 2 * D)
                stage = "passed" if draw() < 0.5 else "onboarding_prep"
                reached = created if stage == "passed" else uniform(H, created - D)
            elif situation == "never_opened":
                first_link = uniform(25 * H, 10 * D)
                created = first_link + H
                last_seen, stage, reached = None, "passed", created
            elif situation == "new_link_unopened":
                second_link = uniform(25 * H, 47 * H)
                last_seen = second_link + uniform(H, 19 * H)
                stage = "passed" if draw() < 0.5 else "onboarding_prep"
                reached = created if stage == "passed" else uniform(H, created - D)
            elif situation == "company_side_overdue":
                last_seen, stage, reached = uniform(60, 60 * H), "background_check", uniform(6 * D, 11 * D)
            elif situation == "training_notice_not_seen":
                stage, reached, cohort_id = "training_notice", uniform(2 * H, 40 * H), soon_cohort
                last_seen = reached + uniform(H, 20 * H)
            elif situation == "attendance_not_confirmed":
                stage, reached, cohort_id = "onboarding_prep", uniform(2 * D, 5 * D), soon_cohort
                last_seen = uniform(60, reached - H)
            else:  # fine: visited within the last 66 hours; nothing overdue, every notice seen
                last_seen = uniform(60, 66 * H)
                pick = draw()
                stage = next(key for limit, key in fine_stages if pick < limit)
                if stage == "passed":
                    reached = created
                elif stage == "background_check":
                    reached = uniform(H, 4 * D)
                elif stage == "training_notice":
                    reached = min(last_seen + uniform(H, 5 * D), created - H)
                else:
                    reached = uniform(H, created - D)
                if draw() < 0.2:
                    second_link = uniform(last_seen + H, created - D)
            if situation != "never_opened":
                first_link = created - H

            # Stage events: every stage up to the current one, the first at creation, the last at ``reached``.
            position = stage_ids[stage] - 1
            for step in range(position + 1):
                stage_event_id += 1
                at = created - (created - reached) * step / position if position else created
                rows_s.append((stage_event_id, candidate_id, step + 1, ago(at), 1, ""))

            # One or two links, and 10 engagement events from the first link's issue to the last visit.
            link_id += 1
            first_id, second_id = link_id, None
            first_opened = second_opened = None
            if second_link is not None:
                link_id += 1
                second_id = link_id
            if last_seen is not None:
                start = first_link - 0.5 * H
                step_back = (start - last_seen) / 9
                for step in range(10):
                    at = start - step_back * step
                    if second_id is not None and at < second_link:
                        used = second_id
                        if second_opened is None:
                            second_opened = at
                    else:
                        used = first_id
                        if first_opened is None:
                            first_opened = at
                    kind = draw()
                    kind, target = (
                        ("view", "page")
                        if step == 0 or kind < 0.7
                        else ("story", str(1 + step % 5))
                        if kind < 0.85
                        else ("checklist", str(1 + step % 6))
                    )
                    event_id += 1
                    rows_e.append((event_id, candidate_id, used, kind, target, ago(at), "mobile"))
            rows_l.append(
                (
                    first_id,
                    candidate_id,
                    f"{rng.getrandbits(256):064x}",
                    "sms",
                    ago(first_link),
                    1,
                    ago(first_opened) if first_opened is not None else None,
                    ago(second_link) if second_id is not None and revoke_first else None,
                    ago(first_link - 90 * D),
                )
            )
            if second_id is not None:
                rows_l.append(
                    (
                        second_id,
                        candidate_id,
                        f"{rng.getrandbits(256):064x}",
                        "sms",
                        ago(second_link),
                        1,
                        ago(second_opened) if second_opened is not None else None,
                        None,
                        ago(second_link - 90 * D),
                    )
                )
            rows_c.append(
                (
                    candidate_id,
                    f"候选人{candidate_id}",
                    None,
                    f"c{candidate_id}@example.com",
                    "门店导购",
                    "上海 · 浦东店",
                    "门店招聘会",
                    1,
                    "active",
                    None,
                    None,
                    None,
                    tags,
                    "en" if candidate_id % 4 == 0 else "zh_CN",
                    stage_ids[stage],
                    ago(reached),
                    cohort_id,
                    ago(last_seen) if last_seen is not None else None,
                    ago(second_link if second_id is not None else first_link),
                    ago(last_reached) if last_reached is not None else None,
                    None,
                    ago(created),
                    None,
                    None,
                    None,
                    None,
                    None,
                    "",
                    None,
                    "",
                    None,
                    # Tomorrow's cohort asks its members to confirm: all but those who matter here did.
                    ago(last_seen or H)
                    if cohort_id == soon_cohort and situation != "attendance_not_confirmed"
                    else None,
                    0,
                )
            )
            if candidate_id % CHUNK == 0 or candidate_id == count:
                loader.flush()
        out.candidates, out.links, out.stage_events, out.engagement_events = count, link_id, stage_event_id, event_id
        out.writing = loader.seconds

        if postgres:
            session.execute(sa.text("SET session_replication_role = DEFAULT"))
            for table in ("user", "stage", "cohort", *COLUMNS):
                session.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT max(id) FROM \"{table}\"))"
                    )
                )
            session.commit()
            # What autovacuum does after such a load: statistics and the visibility map.
            # And a checkpoint, so that writing the load out does not compete with the measured scans.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM (ANALYZE)"))
                connection.execute(sa.text("CHECKPOINT"))
        else:
            session.commit()
            session.connection().exec_driver_sql("PRAGMA foreign_keys=ON")
            session.connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        session.remove()
        db.engine.dispose()
    out.seconds = time.perf_counter() - started
    return out


# --------------------------------------------------------------------------------------------
# The measurement, in a fresh process so that its RSS high-water mark is the scan's alone
# --------------------------------------------------------------------------------------------

EXPLAINABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


def _sql_key(statement: str) -> str:
    return " ".join(statement.split())[:60]


class StatementClock:
    """Times every statement at the cursor, labelled with the rule that sent it.

    It also enforces the scan's time limit: PostgreSQL gets a ``statement_timeout`` of the time left
    before each statement, SQLite a progress handler that interrupts the statement once it is over. A
    cancelled statement makes its rule fail, which ``run_scan`` rolls back and reports.
    """

    def __init__(self, engine, postgres: bool):
        self.engine = engine
        self.postgres = postgres
        self.label = "scan"
        self.executions = []  # (label, statement, parameters, seconds, rowcount)
        self.rule_seconds = {}
        self.deadline = None  # perf_counter() value, or None
        self.explain_at: set[int] = set()  # execution indexes to run EXPLAIN (ANALYZE, BUFFERS) for first
        self.explained: dict[int, str] = {}
        self.notices = None  # a list while auto_explain's plans are being collected
        self.cancellable = False
        if postgres:
            from psycopg.pq import TransactionStatus

            self.in_error = TransactionStatus.INERROR

    def install(self):
        import sqlalchemy as sa

        sa.event.listen(self.engine, "connect", self.on_connect)
        sa.event.listen(self.engine, "before_cursor_execute", self.before)
        sa.event.listen(self.engine, "after_cursor_execute", self.after)

    def on_connect(self, dbapi_connection, _record):
        if not self.postgres:
            dbapi_connection.set_progress_handler(self.interrupt, 20_000)
            return
        # auto_explain prints the plan of every statement slower than 200 ms as a NOTICE to this client: the
        # plans the measured scans really used, at no cost (without timing each node).
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("LOAD 'auto_explain'")
                cursor.execute("SET auto_explain.log_min_duration = 200")
                cursor.execute("SET auto_explain.log_level = notice")
            dbapi_connection.commit()
            dbapi_connection.add_notice_handler(self.notice)
        except Exception as error:  # noqa: BLE001 - plans are a bonus
            dbapi_connection.rollback()
            log(f"  (auto_explain not available, no plans of the measured scans: {error})")

    def interrupt(self) -> int:
        return 1 if self.cancellable and self.deadline is not None and time.perf_counter() > self.deadline else 0

    def notice(self, diagnostic):
        if self.notices is not None and (diagnostic.message_primary or "").startswith("duration:"):
            self.notices.append((self.label, diagnostic.message_primary))

    def before(self, conn, cursor, statement, parameters, context, executemany):
        index = len(self.executions) + len(conn.info.get("scan_bench_started", []))
        # Only the rules' own statements are cancelled at the time limit, never a SAVEPOINT or its ROLLBACK.
        self.cancellable = self.deadline is not None and statement.lstrip().upper().startswith(EXPLAINABLE)
        if self.postgres and cursor.connection.info.transaction_status != self.in_error:  # else a ROLLBACK follows
            left = max(int((self.deadline - time.perf_counter()) * 1000), 1) if self.cancellable else 0
            cursor.connection.execute(f"SET statement_timeout = {left}")
        if index in self.explain_at:
            # EXPLAIN ANALYZE runs the statement: undo it, so the real execution that follows starts from
            # the same state (filling the scan's temporary table twice would break its primary key).
            try:
                with cursor.connection.cursor() as explain:
                    explain.execute("SAVEPOINT scan_bench_explain")
                    explain.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    self.explained[index] = "\n".join(row[0] for row in explain.fetchall())
                    explain.execute("ROLLBACK TO SAVEPOINT scan_bench_explain")
                    explain.execute("RELEASE SAVEPOINT scan_bench_explain")
            except Exception as error:
                self.explained[index] = f"(EXPLAIN ANALYZE failed: {type(error).__name__}: {error})"
                raise
        conn.info.setdefault("scan_bench_started", []).append(time.perf_counter())

    def after(self, conn, cursor, statement, parameters, context, executemany):
        self.cancellable = False
        elapsed = time.perf_counter() - conn.info["scan_bench_started"].pop()
        self.executions.append((self.label, statement, parameters, elapsed, cursor.rowcount))

    def labelled(self, label, function):
        def wrapper(*args, **kwargs):
            previous, self.label = self.label, label(*args)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.rule_seconds[self.label] = self.rule_seconds.get(self.label, 0.0) + time.perf_counter() - started
                self.label = previous

        return wrapper

    def reset(self, limit: float | None = None, explain_at=()):
        self.executions, self.rule_seconds, self.explained = [], {}, {}
        self.explain_at = set(explain_at)
        self.deadline = time.perf_counter() + limit if limit else None

    def slowest(self, limit: int) -> list[dict]:
        grouped = {}
        for label, statement, _parameters, seconds, rows in self.executions:
            entry = grouped.setdefault(
                (label, _sql_key(statement)),
                {"label": label, "sql": _sql_key(statement), "calls": 0, "seconds": 0.0, "rows": 0},
            )
            entry["calls"] += 1
            entry["seconds"] += seconds
            entry["rows"] += max(rows, 0)
        return sorted(grouped.values(), key=lambda entry: -entry["seconds"])[:limit]

    def slowest_indexes(self, limit: int) -> list[int]:
        order = sorted(range(len(self.executions)), key=lambda i: -self.executions[i][3])
        return [i for i in order if self.executions[i][1].lstrip().upper().startswith(EXPLAINABLE)][:limit]


def measure(spec: dict) -> dict:
    """Runs in the child: the scans, their statements and the peak RSS, then the slowest statements' plans."""
    import sqlalchemy as sa

    app = harness.make_app(harness.app_environment(spec["url"]))
    now = datetime.fromisoformat(spec["now"])
    limit, explain_limit = spec["scan_limit"], spec["explain_limit"]
    out = {"scenarios": [], "explain": [], "used_plans": []}
    with app.app_context():
        from portal.extensions import db
        from portal.services import scan as scan_module

        postgres = db.engine.dialect.name == "postgresql"
        clock = StatementClock(db.engine, postgres)
        clock.install()  # before the first connection: its connect hook sets the connection up
        db.session.execute(sa.text("SELECT count(*) FROM candidate")).scalar()
        backend_pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar() if postgres else None
        db.session.rollback()
        # The work calendar's years, as a running installation has them: the first scan would otherwise seed
        # them, and the replays (for the plans) would run fewer statements than the scans they replay.
        from portal.services.worktime import WorkCalendar

        WorkCalendar(now)
        db.session.commit()
        # Label each statement with its rule: wrap the functions run_scan calls (in this process only).
        if hasattr(scan_module, "_apply"):
            scan_module._apply = clock.labelled(lambda rule, *rest: rule.name, scan_module._apply)
        out["baseline_rss_mb"] = rss_mb()
        out["busy_before"] = harness.machine_busy_share()
        full = {}  # scenario -> its executions, parameters included (for the plans; not sent back)

        def one_scan(at: datetime, scenario: str) -> dict:
            clock.reset(limit)
            clock.notices = []
            cpu, server = time.process_time(), postgres_cpu() if postgres else 0.0
            started = time.perf_counter()
            try:
                result = scan_module.run_scan(at)
                db.session.commit()
                rules, error = {name: vars(rule) for name, rule in result.rules.items()}, None
            except Exception as failure:  # noqa: BLE001 - e.g. the final commit
                db.session.rollback()
                rules = {}
                error = " ".join(f"{type(failure).__name__}: {failure}".split())[:200]
            seconds = time.perf_counter() - started
            clock.deadline = None
            full[scenario] = clock.executions
            if clock.notices:
                out["used_plans"].append({"scenario": scenario, "plans": clock.notices})
            clock.notices = None
            record = {
                "scenario": scenario,
                "seconds": seconds,
                "cpu": time.process_time() - cpu,
                "server_cpu": (postgres_cpu() - server) if postgres else None,
                "rules": rules,
                "error": error,
                "rss_mb": rss_mb(),
                "statements": clock.slowest(10),
                "statement_count": len(clock.executions),
                "rule_seconds": dict(clock.rule_seconds),
                "slowest_indexes": clock.slowest_indexes(3),
                "cut": bool(error) or seconds > limit or any(rule["error"] for rule in rules.values()),
            }
            log(f"  {scenario}: {seconds:.2f} s" + (f", FAILED and rolled back: {error}" if error else ""))
            return record

        def replay(at: datetime, measured: dict, commit: bool) -> None:
            """Run the scan again with EXPLAIN (ANALYZE, BUFFERS) before its slowest statements."""
            if not spec["explain"]:
                return
            if measured["seconds"] > explain_limit or measured["cut"]:
                out["explain"].append(
                    {
                        "scenario": measured["scenario"],
                        "text": (
                            f"(not replayed: the measured scan took {measured['seconds']:.1f} s, over --explain-limit "
                            f"{explain_limit:g} s, or was cut; the plans it used are in the auto_explain section)"
                        ),
                    }
                )
                return
            clock.reset(limit, measured["slowest_indexes"])
            scan_module.run_scan(at)
            db.session.commit() if commit else db.session.rollback()
            clock.deadline = None
            out["explain"].append(_explained(measured["scenario"], full[measured["scenario"]], measured, clock))

        raises = one_scan(now, "raises")
        if raises["error"]:
            out["scenarios"].append(raises)
            out["stopped"] = (
                "the first scan failed and was rolled back, so a second one would not find 'nothing changed'"
            )
            return out
        quiet = one_scan(now + timedelta(minutes=1), "nothing changed")
        out["scenarios"] += [raises, quiet]
        if postgres:
            out["server_hwm_mb"] = _vm_hwm_mb(backend_pid)
            replay(now + timedelta(minutes=1), quiet, commit=False)
            if spec["explain"] and raises["seconds"] <= explain_limit and not raises["cut"]:
                # Put the flags back as before the first scan, then replay it and commit (which leaves
                # the state the first scan left).
                db.session.execute(sa.text("DELETE FROM flag"))
                db.session.commit()
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(sa.text("VACUUM (ANALYZE) flag, candidate"))
            replay(now, raises, commit=True)
        elif spec["explain"]:
            # SQLite: the query plans of the slowest statements (EXPLAIN QUERY PLAN does not run them).
            for table in getattr(scan_module, "SCRATCH_TABLES", ()):  # gone with each rule: plans need them
                table.create(db.session.connection())
            raw = db.session.connection().connection.driver_connection
            for scenario in (raises, quiet):
                parts = []
                for index in scenario["slowest_indexes"]:
                    label, statement, parameters, seconds, _rows = full[scenario["scenario"]][index]
                    plan = raw.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
                    parts.append(
                        f"-- {label}: {seconds:.3f} s in the measured scan\n{statement}\n\n" + _sqlite_plan(plan)
                    )
                out["explain"].append({"scenario": scenario["scenario"], "text": "\n\n".join(parts)})
            db.session.rollback()
    return out


def _explained(scenario: str, executions: list, measured: dict, clock: StatementClock) -> dict:
    parts = []
    for index in measured["slowest_indexes"]:
        label, statement, _parameters, seconds, _rows = executions[index]
        replayed = clock.executions[index][1] if index < len(clock.executions) else None
        if replayed != statement:
            parts.append(f"-- {label}: statement #{index} differs in the replay; not explained")
            continue
        parts.append(
            f"-- {label}: {seconds:.3f} s in the measured scan (EXPLAIN ANALYZE of a replay: statistics "
            f"may have changed since)\n{statement}\n\n" + clock.explained.get(index, "(no plan captured)")
        )
    return {"scenario": f"{scenario} (EXPLAIN ANALYZE, BUFFERS)", "text": "\n\n".join(parts)}


def _sqlite_plan(rows) -> str:
    depth, lines = {0: 0}, []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, 0) + 1
        lines.append("  " * depth[node] + detail)
    return "\n".join(lines)


def _vm_hwm_mb(pid) -> float | None:
    """The PostgreSQL backend's own RSS high-water mark (it counts the shared buffers it touched)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def child_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    result = measure(spec)
    Path(spec["out"]).write_text(json.dumps(result, default=str))


# --------------------------------------------------------------------------------------------
# Orchestration and the table
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    database: str
    size: int
    generated: Generated
    measured: dict


def run_child(context, url: str, now: datetime, args, workdir: Path) -> dict:
    """Run ``measure`` in a process forked from the forkserver started with this script, while it was small.

    A process started from this one (fork or exec) would inherit its RSS high-water mark, which the data
    generation has raised: ru_maxrss would then report the generator, not the scan.
    """
    spec_path, out_path = workdir / "spec.json", workdir / "out.json"
    out_path.unlink(missing_ok=True)
    spec_path.write_text(
        json.dumps(
            {
                "url": url,
                "now": now.isoformat(),
                "explain": args.explain,
                "scan_limit": args.scan_limit,
                "explain_limit": args.explain_limit,
                "out": str(out_path),
            }
        )
    )
    process = context.Process(target=child_main, args=(str(spec_path),), name="scan-bench-measure")
    process.start()
    timeout = 8 * args.scan_limit + 600  # every scan and replay is cut at --scan-limit
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join(10)
        raise harness.BenchFailure(f"the scans did not finish within {timeout:.0f} s")
    if process.exitcode != 0 or not out_path.exists():
        raise harness.BenchFailure(f"the measuring process exited with {process.exitcode}")
    return json.loads(out_path.read_text())


def describe_run(run: Run, show_statements: bool) -> list[str]:
    lines = []
    expected = run.generated.expected
    for scenario in run.measured["scenarios"]:
        head = f"  {scenario['scenario']}: {scenario['seconds']:.2f} s, {scenario['statement_count']} statements; "
        head += f"CPU here {scenario['cpu']:.2f} s"
        if scenario["server_cpu"] is not None:
            head += f", postgres processes {scenario['server_cpu']:.2f} s"
        lines.append(head)
        for rule, result in scenario["rules"].items():
            shown = (
                f"    {rule:<26} {scenario['rule_seconds'].get(rule, float('nan')):7.2f} s  "
                f"raised {result['raised']:>8,}  escalated {result['escalated']:>6,}  "
                f"closed {result['closed']:>6,}"
            )
            if scenario["scenario"] == "raises":
                shown += f"  (generated to match: {expected.get(rule, 0):,})"
            if result.get("error"):
                shown += "  FAILED: " + " ".join(result["error"].split())[:110]
            lines.append(shown)
        if scenario.get("error"):
            lines.append(f"    the whole scan FAILED and was rolled back: {scenario['error']}")
        if show_statements:
            lines.append("    slowest statements (rule, calls, seconds, rows, first 60 characters of the SQL):")
            for entry in scenario["statements"][:6]:
                lines.append(
                    f"      {entry['label']:<26} {entry['calls']:>2}x {entry['seconds']:8.3f} s "
                    f"{entry['rows']:>9,}  {entry['sql']}"
                )
    return lines


def explain_text(run: Run) -> str:
    parts = []
    for explained in run.measured["explain"]:
        parts.append(
            f"===== {run.database}, {run.size:,} candidates, scan: {explained['scenario']} =====\n\n"
            f"{explained['text']}\n"
        )
    for used in run.measured.get("used_plans", []):
        plans = "\n\n".join(f"-- {label}\n{text}" for label, text in used["plans"])
        parts.append(
            f"===== {run.database}, {run.size:,} candidates, scan: {used['scenario']}: the plans the "
            f"measured scan used (auto_explain, statements over 200 ms, no per-node timing) =====\n\n"
            f"{plans}\n"
        )
    return "\n".join(parts)


def print_table(runs: list[Run], skipped: list[str], args: argparse.Namespace) -> None:
    header = (
        f"{'database':<11} {'candidates':>10}  {'scenario':<26} {'seconds':>8} {'raised':>8} {'escalated':>9} "
        f"{'closed':>7} {'peak RSS MB':>11} {'scan +MB':>8} {'app CPU s':>9} "
        f"{'db CPU s':>8}"
    )
    lines = ["", header]
    for run in runs:
        baseline = run.measured["baseline_rss_mb"]
        for scenario in run.measured["scenarios"]:
            rules = scenario["rules"].values()
            raised, escalated, closed = (sum(r[key] or 0 for r in rules) for key in ("raised", "escalated", "closed"))
            server = f"{scenario['server_cpu']:8.2f}" if scenario["server_cpu"] is not None else f"{'-':>8}"
            line = (
                f"{run.database:<11} {run.size:>10,}  {scenario['scenario']:<26} {scenario['seconds']:>8.2f} "
                f"{raised:>8,} {escalated:>9,} {closed:>7,} "
                f"{scenario['rss_mb']:>11.1f} {scenario['rss_mb'] - baseline:>8.1f} {scenario['cpu']:>9.2f} "
                f"{server}"
            )
            failed = [name for name, rule in scenario["rules"].items() if rule.get("error")]
            if scenario.get("error"):
                line += f"  <- the scan failed (cut at --scan-limit {args.scan_limit:g} s?) and was rolled back"
            elif failed:
                line += f"  <- cut at --scan-limit {args.scan_limit:g} s / failed: {', '.join(failed)}"
            lines.append(line)
    lines += [
        "",
        "peak RSS MB: ru_maxrss of the process that ran the scans (a fresh one per database and size, forked",
        "from a small server process, so the data generation is not in it). It is a high-water mark, so later",
        "rows of a run can only be >= earlier ones; scan +MB: above the mark just before the first scan",
        "(imports, app, one connection). PostgreSQL's memory is in its own server processes, not counted",
        "here; the scanning backend's VmHWM is shown below. app CPU s: this process; db CPU s: all postgres",
        "processes.",
    ]
    for run in runs:
        hwm = run.measured.get("server_hwm_mb")
        busy = run.measured.get("busy_before", 0.0)
        generated = run.generated
        notes = [f"generation {generated.seconds:.0f} s ({generated.writing:.0f} s writing)"]
        if hwm is not None:
            notes.append(f"PostgreSQL backend VmHWM {hwm:.0f} MB (the shared buffers it touched included)")
        notes.append(
            f"machine {busy:.0%} busy with other work just before"
            + (" <- disturbed" if busy > harness.BUSY_LIMIT else "")
        )
        lines.append(f"{run.database} {run.size:,}: " + "; ".join(notes))
    for run in runs:
        if run.measured.get("stopped"):
            lines.append(f"{run.database} {run.size:,}: stopped after the first scan: {run.measured['stopped']}")
        if run.size >= 1_000_000 and len(run.measured["scenarios"]) >= 2:
            raises, quiet = run.measured["scenarios"][:2]
            lines.append(
                f"goal on {run.database}, {run.size:,} candidates: raises {raises['seconds']:.2f} s "
                f"(< {GOAL_RAISES_S:.0f} s: {'met' if raises['seconds'] < GOAL_RAISES_S else 'NOT met'}), "
                f"nothing changed {quiet['seconds']:.2f} s "
                f"(< {GOAL_QUIET_S:.0f} s: {'met' if quiet['seconds'] < GOAL_QUIET_S else 'NOT met'})"
                + (" (a scan was cut at the limit: the real time is longer)" if raises["cut"] or quiet["cut"] else "")
            )
    lines += skipped
    harness.report(lines, "scan-last-run.txt")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__, "keepwarm_scan_bench")
    parser.add_argument(
        "--sizes", default="100000,1000000", help="candidate counts, comma-separated (default 100000,1000000)"
    )
    parser.add_argument("--quick", action="store_true", help="10,000 candidates only")
    parser.add_argument(
        "--scan-limit",
        type=float,
        default=60.0,
        help="cancel a scan's statements once the scan has run this long, so one bad plan "
        "cannot take hours; the rules cut are reported as failed (default 60 s)",
    )
    parser.add_argument(
        "--no-explain", dest="explain", action="store_false", help="skip the query plans of the slowest statements"
    )
    parser.add_argument(
        "--explain-limit",
        type=float,
        default=60.0,
        help="replay a PostgreSQL scan under EXPLAIN ANALYZE only when it took less (default 60 s)",
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=20.0,
        help="skip a size whose estimated time (from the previous size) would overrun this (default 20; 0 = no limit)",
    )
    args = parser.parse_args(argv)
    args.sizes = [10_000] if args.quick else sorted(int(size.replace("_", "")) for size in args.sizes.split(","))
    return args


def estimate_seconds(run: Run, size: int, args) -> float:
    """The next size's time: generation grows linearly, each scan too but at most to --scan-limit, times two
    for the replays."""
    ratio = size / run.size
    scans = sum(min(scenario["seconds"] * ratio, args.scan_limit) for scenario in run.measured["scenarios"])
    return run.generated.seconds * ratio * 1.15 + scans * (2 if args.explain else 1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Start the process the measurements fork from now, while this one has imported nothing big.
    import multiprocessing
    import multiprocessing.forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([])
    multiprocessing.forkserver.ensure_running()
    databases, unavailable = harness.chosen_databases(args)
    skipped = [f"{name} skipped: {reason}" for name, reason in unavailable.items()]

    from portal.models import utcnow

    log(
        f"Keepwarm scan bench: {harness.software('SQLAlchemy', 'psycopg', 'SQLite')}; "
        f"sizes {', '.join(f'{size:,}' for size in args.sizes)}"
    )
    started = time.monotonic()
    budget = args.budget_minutes * 60 or float("inf")
    runs, failed = [], False
    last = {}  # database -> its previous Run
    explains = {name: [] for name in databases}
    with harness.scratch_folder("keepwarm-scan-bench-") as workdir:
        for size in args.sizes:
            for name in databases:
                if name in last:
                    estimate = estimate_seconds(last[name], size, args)
                    remaining = budget - (time.monotonic() - started)
                    if estimate > remaining:
                        message = (
                            f"{name} {size:,} skipped: estimated {estimate / 60:.0f} min from the "
                            f"{last[name].size:,} run, {max(remaining, 0) / 60:.0f} min left of "
                            f"--budget-minutes {args.budget_minutes:g}"
                        )
                        log(message)
                        skipped.append(message)
                        continue
                log(f"\n== {name}, {size:,} candidates ==")
                url = harness.database_url(name, args, workdir, f"scan-{size}.sqlite")
                now = utcnow().replace(microsecond=0)
                generated = generate(harness.make_app(harness.app_environment(url)), size, now)
                log(
                    f"  generated in {generated.seconds:.1f} s ({generated.writing:.1f} s writing): "
                    f"{generated.candidates:,} candidates, {generated.links:,} links, "
                    f"{generated.stage_events:,} stage events, {generated.engagement_events:,} engagement events"
                )
                try:
                    measured = run_child(context, url, now, args, workdir)
                except harness.BenchFailure as failure:
                    log(f"  FAILED: {failure}")
                    skipped.append(f"{name} {size:,} FAILED: {failure}")
                    failed = True
                    continue
                finally:
                    if name == "sqlite":
                        for suffix in ("", "-wal", "-shm"):
                            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
                run = Run(name, size, generated, measured)
                runs.append(run)
                last[name] = run
                for line in describe_run(run, size >= 1_000_000 or size == args.sizes[-1]):
                    log(line)
                text = explain_text(run)
                if text:
                    explains[name].append(text)
                    path = harness.result_file(f"scan-explain-{name}.txt")
                    path.write_text("\n".join(explains[name]))
                    log(f"  plans of the slowest statements: {path.relative_to(ROOT)}")
    print_table(runs, skipped, args)
    log(f"\n(whole run {(time.monotonic() - started) / 60:.1f} min)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
