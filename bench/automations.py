"""Automations benchmark: one evaluation of the time-based automations over 1,000,000 candidates, on SQLite
and PostgreSQL.

    ./dev bench-automations                           # 1,000,000 candidates, both databases
    ./dev bench-automations --candidates 100000       # a quick run
    ./dev bench-automations --db sqlite --runs 5

For each database: migrate a fresh database and load, with one set-based INSERT … SELECT per table, the demo
pipeline, 6 cohorts a week apart, 5 published stories (and a draft), the demo checklist (two items required,
due 3 days before the start), the recommended automations (``seed_rhythm``, all switched on; the Friday story
goes to one site only, about 10 % of the candidates), N active candidates and a few hundred thousand "story"
engagement events (plus --views page views per candidate, none by default). Then, in a fresh process, time
``evaluate(now)`` + commit in two scenarios:

- story due: Friday 2026-12-04 15:00, evaluated until 14:59, so the Friday-15:00 story automation queues a
  message for each candidate of its site who has a story left to read (~100,000 at 1,000,000 candidates);
- nothing due: the same Friday at 15:30, evaluated until 15:29: no weekly, cohort or checklist moment.

Each scenario runs --runs times, from an empty outbox and every automation's ``evaluated_until`` set back;
printed: the best and the median, the rows really in the outbox against the rows expected, and the peak memory
(RSS) of the measuring process. Goals at 1,000,000 candidates: < 5 s when it queues ~100,000 messages, < 3 s
when nothing is due. See bench/README.md.
"""

import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from zoneinfo import ZoneInfo

import harness
import hr_page  # the CPU share of other work while measuring (cpu_snapshot, others_share)
from harness import ROOT, log

FRIDAY = date(2026, 12, 4)  # a real Friday: the story automation's day
STORY_SITE = "上海 · 浦东店"  # the story automation's audience: one of SITES, so ~10 % of the candidates
SITES = (
    STORY_SITE,
    "上海 · 徐汇店",
    "上海 · 静安店",
    "北京 · 朝阳店",
    "北京 · 海淀店",
    "广州 · 天河店",
    "深圳 · 南山店",
    "杭州 · 西湖店",
    "成都 · 锦江店",
    "南京 · 鼓楼店",
)
POSITIONS = ("门店导购", "收银员", "仓库管理员")
STORIES = 5  # published ones, a week apart; the newest a week before the Friday
D = 86_400  # seconds in a day
GOAL_QUEUES_S, GOAL_QUIET_S, GOAL_SIZE = 5.0, 3.0, 1_000_000
OTHERS_WINDOW_S = 1.0  # the shortest time over which the CPU other work used is measured
EXPLAINABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


@dataclass(frozen=True)
class Scenario:
    name: str
    now: datetime  # evaluate(now)
    since: datetime  # every automation's evaluated_until before each run
    goal_s: float
    story_due: bool  # the Friday story is due: it should queue Loaded.expected rows, else none


@dataclass
class Loaded:
    """What the generator wrote, and what the story scenario should queue (counted from the data)."""

    candidates: int = 0
    cohort_members: int = 0
    story_events: int = 0
    view_events: int = 0
    audience: int = 0  # active candidates of STORY_SITE who did not stop automated messages
    expected: int = 0  # of them, those with a published story left to read: the story scenario's messages
    seconds: float = 0.0


@dataclass
class Measured:
    """One scenario on one database: every run's seconds, the rows queued, the slowest statements."""

    scenario: Scenario
    seconds: list[float] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)  # rows in the outbox after each run
    reported: list[int] = field(default_factory=list)  # evaluate()'s own total
    others: list[float] = field(default_factory=list)  # share of the machine other work used, per run
    statements: list[tuple[float, int, str]] = field(default_factory=list)  # the last run's: seconds, rows, SQL
    statement_count: int = 0  # in the last run
    plan: str = ""

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


# --------------------------------------------------------------------------------------------
# Data: everything small through the models, the candidates and events as one INSERT … SELECT each
# --------------------------------------------------------------------------------------------


class Sql:
    """The few pieces of generator SQL that differ between SQLite and PostgreSQL.

    Every candidate's attributes come from its number ``i`` through ``roll``: ``(i * salt) mod (2**31 - 1)`` (a
    prime) scatters the numbers evenly, differently for each salt, so both databases get the very same data
    without a random generator.
    """

    def __init__(self, postgres: bool, now: datetime):
        self.postgres = postgres
        # SQLite keeps times as naive UTC text (portal.models.base.UTCDateTime), always with microseconds.
        self.now = now if postgres else now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    def numbers(self) -> tuple[str, str]:
        """A WITH prefix and a FROM clause that give the rows ``i`` = 1 … :count."""
        if self.postgres:
            return "", "generate_series(1, :count) AS series(i)"
        return "WITH RECURSIVE series(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM series WHERE i < :count)", "series"

    @staticmethod
    def roll(number: str, salt: int, sides: int) -> str:
        return f"((CAST({number} AS BIGINT) * {salt}) % 2147483647 % {sides})"

    def ago(self, seconds: str) -> str:
        """The time ``seconds`` (an SQL expression) before :now, as the database stores it."""
        if self.postgres:
            return f"(CAST(:now AS timestamptz) - ({seconds}) * interval '1 second')"
        return f"(strftime('%Y-%m-%d %H:%M:%S', :now, '-' || ({seconds}) || ' seconds') || '.000000')"


def one_of(roll: str, values: tuple[str, ...]) -> str:
    """CASE roll WHEN 0 THEN 'first' … : one of ``values`` (roll must have len(values) sides)."""
    return "CASE " + roll + " ".join(f" WHEN {n} THEN '{value}'" for n, value in enumerate(values)) + " END"


def load(app, count: int, now: datetime, views: int = 0) -> Loaded:
    """A fresh database with ``count`` candidates (each with ``views`` page views), every time relative to ``now``
    (the story Friday, 15:00)."""
    import sqlalchemy as sa

    from portal.demo import STORIES as DEMO_STORIES
    from portal.demo import STORY_FIELDS, add_checklist, add_stages
    from portal.extensions import db
    from portal.models import Automation, ChecklistItem, Cohort, Story, User
    from portal.models.automations import Trigger
    from portal.services.automations import CATCH_UP, seed_rhythm
    from portal.services.worktime import WorkCalendar

    started = time.perf_counter()
    out = Loaded(candidates=count)
    with app.app_context():
        harness.migrate_fresh()
        postgres = db.engine.dialect.name == "postgresql"
        session = db.session

        # The small tables, through the models and the demo's own helpers.
        session.execute(
            sa.insert(User).values(id=1, email="hr@example.com", name="周晓雯", role="hr", password_hash="!")
        )
        stages = add_stages()
        first_monday = FRIDAY + timedelta(days=3)
        cohorts = [
            Cohort(
                name=f"Cohort {number + 1}",
                starts_on=first_monday + timedelta(weeks=number),
                ends_on=first_monday + timedelta(weeks=number, days=4),
                place_zh="上海浦东培训中心",
                place_en="Shanghai Pudong Training Centre",
                address="上海市浦东新区张杨路 500 号",
            )
            for number in range(6)
        ]
        session.add_all(cohorts)
        for number, row in enumerate(DEMO_STORIES[:STORIES]):  # oldest first, so the newest has the highest id
            published = now - timedelta(weeks=STORIES - number, hours=3)
            session.add(Story(published_at=published, **dict(zip(STORY_FIELDS, row, strict=True))))
        session.add(Story(title_zh="草稿", title_en="A draft", published_at=None))  # never sent: not published
        add_checklist()
        session.flush()
        for item in session.scalars(sa.select(ChecklistItem).order_by(ChecklistItem.position).limit(2)):
            item.required, item.due_days_before = True, 3
        seed_rhythm(now=now, enabled=True)
        story_automation = session.scalars(
            sa.select(Automation).where(Automation.trigger == Trigger.WEEKLY, Automation.with_story)
        ).one()
        story_automation.audience = {"sites": [STORY_SITE]}
        WorkCalendar(now - CATCH_UP)  # seeds this year's and next year's calendar now, not in the first run
        session.commit()
        story_ids = session.scalars(sa.select(Story.id).where(Story.published_at.is_not(None))).all()

        # The big tables: foreign keys are not checked while loading (the rows are consistent by construction).
        if postgres:
            session.execute(sa.text("SET session_replication_role = replica"))
        else:
            session.connection().exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction: it applies
            session.connection().exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MB for the index inserts
        sql = Sql(postgres, now)
        with_numbers, numbers = sql.numbers()
        roll = sql.roll
        stage = roll("i", 7919, 100)  # 40 % passed, 35 % background check, 13 % training notice, 12 % preparing
        stage_id = (
            f"CASE WHEN {stage} < 40 THEN {stages['passed'].id} WHEN {stage} < 75 THEN {stages['background_check'].id}"
            f" WHEN {stage} < 88 THEN {stages['training_notice'].id} ELSE {stages['onboarding_prep'].id} END"
        )
        cohort_ids = [cohort.id for cohort in cohorts]
        cohort_id = f"CASE WHEN {stage} >= 75 THEN {cohort_ids[0]} + {roll('i', 104729, 6)} END"
        candidates = {
            "name": "'候选人' || i",
            "phone": "'+86139' || (10000000 + i)",
            "email": "'c' || i || '@example.com'",
            "position": one_of(roll("i", 1299709, 3), POSITIONS),
            "site": one_of(roll("i", 15485863, 10), SITES),
            "source_channel": "'门店招聘会'",
            "owner_id": f"CASE WHEN {roll('i', 49979687, 20)} = 0 THEN NULL ELSE 1 END",  # 5 % unassigned
            "status": "'active'",
            "tags": "'[]'",
            "locale": one_of(roll("i", 86028121, 4), ("en", "zh_CN", "zh_CN", "zh_CN")),
            "current_stage_id": stage_id,
            # 2-12 days ago: nobody reached the training notice in the last 24 hours, so the "notice not seen"
            # automation has nobody whose 24 hours ran out in either scenario's minute.
            "stage_reached_at": sql.ago(f"2 * {D} + {roll('i', 3021377, 10 * D)}"),
            "cohort_id": cohort_id,
            "last_seen_at": f"CASE WHEN {roll('i', 957689077, 10)} = 0 THEN NULL "
            f"ELSE {sql.ago(roll('i', 694847539, 10 * D))} END",  # 10 % never visited
            "link_issued_at": sql.ago(f"20 * {D}"),
            "created_at": sql.ago(f"20 * {D} + {roll('i', 373587883, 20 * D)}"),
            "left_note": "''",
            # 1 % stopped automated messages: the story skips them.
            "messages_stopped_at": f"CASE WHEN {roll('i', 533000389, 100)} = 0 THEN {sql.ago(3 * D)} END",
        }
        session.execute(
            sa.text(
                f"{with_numbers} INSERT INTO candidate ({', '.join(candidates)}) "
                f"SELECT {', '.join(candidates.values())} FROM {numbers}"
            ),
            {"count": count, "now": sql.now},
        )
        # Story opens: 70 % read none, the others the newest 1-5 (2 % all five, so they get no story), each an
        # engagement event of kind "story" whose target is the story id as text, as the candidate page writes it.
        reads = roll("c.id", 2750159, 100)
        read_count = (
            f"CASE WHEN {reads} < 70 THEN 0 WHEN {reads} < 85 THEN 1 WHEN {reads} < 92 THEN 2 "
            f"WHEN {reads} < 96 THEN 3 WHEN {reads} < 98 THEN 4 ELSE 5 END"
        )
        events = {
            "candidate_id": "c.id",
            "link_id": "NULL",
            "kind": "'story'",
            "target": "CAST(s.id AS VARCHAR(40))",
            "occurred_at": sql.ago(roll("c.id + s.id", 39916801, 6 * D)),  # in the 6 days since the newest story
            "device": "'mobile'",
        }
        session.execute(
            sa.text(
                f"INSERT INTO engagement_event ({', '.join(events)}) SELECT {', '.join(events.values())} "
                f"FROM candidate c JOIN story s ON s.published_at IS NOT NULL AND s.id > :newest - ({read_count})"
            ),
            {"newest": max(story_ids), "now": sql.now},
        )
        if views:
            # Page views, spread over the last 10 days: what a real history holds besides the story opens. The
            # evaluator's "story not yet opened" test reads a candidate's events, so their number matters.
            view = {**events, "kind": "'view'", "target": "'page'", "occurred_at": sql.ago(f"i * {10 * D} / :count")}
            session.execute(
                sa.text(
                    f"{with_numbers} INSERT INTO engagement_event ({', '.join(view)}) "
                    f"SELECT {', '.join(view.values())} FROM candidate c CROSS JOIN {numbers}"
                ),
                {"count": views, "now": sql.now},
            )
        session.commit()
        if postgres:
            session.execute(sa.text("SET session_replication_role = DEFAULT"))
            session.commit()
            # What autovacuum does after such a load (statistics, visibility map), and a checkpoint so that
            # writing the load out does not compete with the measured runs.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM (ANALYZE)"))
                connection.execute(sa.text("CHECKPOINT"))
        else:
            session.connection().exec_driver_sql("PRAGMA foreign_keys=ON")
            session.connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

        # What the story scenario should queue, counted another way than the evaluator does.
        audience = "c.status = 'active' AND c.site = :site AND c.messages_stopped_at IS NULL"
        read = "SELECT count(*) FROM engagement_event e WHERE e.candidate_id = c.id AND e.kind = 'story'"
        counts = {
            "cohort_members": "SELECT count(*) FROM candidate WHERE cohort_id IS NOT NULL",
            "story_events": "SELECT count(*) FROM engagement_event WHERE kind = 'story'",
            "view_events": "SELECT count(*) FROM engagement_event WHERE kind = 'view'",
            "audience": f"SELECT count(*) FROM candidate c WHERE {audience}",
            "expected": f"SELECT count(*) FROM candidate c WHERE {audience} AND ({read}) < :stories",
        }
        for name, query in counts.items():
            setattr(out, name, session.execute(sa.text(query), {"site": STORY_SITE, "stories": STORIES}).scalar())
        session.remove()
        db.engine.dispose()
    out.seconds = time.perf_counter() - started
    return out


# --------------------------------------------------------------------------------------------
# The measurement, in a fresh process: its peak memory is the evaluation's, not the generator's
# --------------------------------------------------------------------------------------------


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """A process's resident-set high-water mark (VmHWM), which starts afresh with each new program."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def measure(url: str, scenarios: list[Scenario], runs: int) -> dict:
    """Runs in a process of its own: each scenario ``runs`` times, then the plan of its slowest statement."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import Automation
    from portal.services.automations import evaluate

    app = harness.make_app(harness.app_environment(url))
    out = {"scenarios": [], "baseline_mb": 0.0, "peak_mb": None, "backend_peak_mb": None}
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        executed: list[tuple[str, object, float, int]] = []  # statement, parameters, seconds, rows

        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info["bench_started"] = time.perf_counter()

        def after(conn, cursor, statement, parameters, context, executemany):
            executed.append((statement, parameters, time.perf_counter() - conn.info["bench_started"], cursor.rowcount))

        sa.event.listen(db.engine, "before_cursor_execute", before)
        sa.event.listen(db.engine, "after_cursor_execute", after)
        backend = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar() if postgres else None
        db.session.commit()

        def reset(since: datetime) -> None:
            """An empty outbox, every automation evaluated until ``since``, and the database's log written out."""
            db.session.execute(sa.text("TRUNCATE outbox" if postgres else "DELETE FROM outbox"))
            db.session.execute(sa.update(Automation).where(Automation.enabled).values(evaluated_until=since))
            db.session.commit()
            if postgres:
                # As in production, where checkpoints come every few minutes: the run is the first since the
                # last one to touch these pages (which costs PostgreSQL a full-page image in its log).
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(sa.text("CHECKPOINT"))
            else:
                db.session.connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                db.session.commit()

        out["baseline_mb"] = peak_rss_mb()
        for scenario in scenarios:
            measured = Measured(scenario)
            for run in range(runs):
                reset(scenario.since)
                executed.clear()
                before_cpu = hr_page.cpu_snapshot()
                started = time.perf_counter()
                done = evaluate(scenario.now)
                db.session.commit()
                seconds = time.perf_counter() - started
                statements = list(executed)  # the run's own, before the count below
                time.sleep(max(OTHERS_WINDOW_S - seconds, 0))  # a share over a few ms would be all rounding
                measured.others.append(hr_page.others_share(before_cpu, hr_page.cpu_snapshot(), {backend}))
                measured.seconds.append(seconds)
                measured.reported.append(done.total)
                measured.queued.append(db.session.execute(sa.text("SELECT count(*) FROM outbox")).scalar())
                db.session.commit()
                log(f"  {scenario.name}, run {run + 1}: {seconds:.2f} s, {measured.queued[-1]:,} queued")
            slowest = sorted(statements, key=lambda entry: -entry[2])
            measured.statement_count = len(statements)
            measured.statements = [(seconds, rows, " ".join(sql.split())) for sql, _, seconds, rows in slowest[:3]]
            explainable = [entry for entry in slowest if entry[0].lstrip().upper().startswith(EXPLAINABLE)]
            if explainable:  # not a SAVEPOINT, say
                reset(scenario.since)
                measured.plan = plan_of(explainable[0][0], explainable[0][1], postgres)
            out["scenarios"].append(measured)
        out["peak_mb"] = peak_rss_mb()
        out["backend_peak_mb"] = peak_rss_mb(backend) if backend else None
    return out


def plan_of(statement: str, parameters, postgres: bool) -> str:
    """The plan of one statement in the state the runs started from: PostgreSQL runs it under EXPLAIN
    (ANALYZE, BUFFERS) and rolls it back; SQLite only plans it (EXPLAIN QUERY PLAN)."""
    from portal.extensions import db

    raw = db.session.connection().connection.driver_connection
    try:
        if postgres:
            lines = [row[0] for row in raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).fetchall()]
        else:
            depth, lines = {0: 0}, []
            for node, parent, _unused, detail in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters):
                depth[node] = depth.get(parent, 0) + 1
                lines.append("  " * depth[node] + detail)
    except Exception as error:  # noqa: BLE001 - a plan is a bonus: the figures stand without it
        lines = [f"(no plan: {type(error).__name__}: {error})"]
    db.session.rollback()
    return f"{statement}\n\nparameters: {parameters}\n\n" + "\n".join(lines)


def measured_in_fresh_process(url: str, scenarios: list[Scenario], runs: int) -> dict:
    # "spawn" starts a new interpreter: nothing of the generator's memory, so its peak is the evaluation's.
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(measure, url, scenarios, runs).result()


# --------------------------------------------------------------------------------------------
# Orchestration and the table
# --------------------------------------------------------------------------------------------


def scenarios_for(zone: ZoneInfo) -> list[Scenario]:
    def friday_at(hour: int, minute: int) -> datetime:
        return datetime(FRIDAY.year, FRIDAY.month, FRIDAY.day, hour, minute, tzinfo=zone).astimezone(UTC)

    story_due, quiet = friday_at(15, 0), friday_at(15, 30)
    return [
        Scenario("story due", story_due, story_due - timedelta(minutes=1), GOAL_QUEUES_S, story_due=True),
        Scenario("nothing due", quiet, quiet - timedelta(minutes=1), GOAL_QUIET_S, story_due=False),
    ]


@contextmanager
def database_to_ourselves(url: str):
    """PostgreSQL: an advisory lock held for the whole run. Each run drops the database's schema, so two at once
    (two people, or two checkouts, on one server) would spoil each other: the second stops instead."""
    import psycopg
    from sqlalchemy.engine import make_url

    from portal.config import normalise_database_url

    plain = make_url(normalise_database_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as connection:
        locked = connection.execute("SELECT pg_try_advisory_lock(hashtext('bench/automations.py'))").fetchone()
        if not (locked and locked[0]):
            raise harness.BenchFailure("another run is using this database: wait for it, or give --pg-url another one")
        yield


def run_database(name: str, args, workdir: Path) -> tuple[Loaded, dict]:
    url = harness.database_url(name, args, workdir, "automations.sqlite")
    with database_to_ourselves(url) if name == "postgresql" else nullcontext():
        return load_and_measure(name, url, args)


def load_and_measure(name: str, url: str, args) -> tuple[Loaded, dict]:
    app = harness.make_app(harness.app_environment(url))
    scenarios = scenarios_for(ZoneInfo(app.config["TIMEZONE"]))
    log(f"  loading {args.candidates:,} candidates ...")
    loaded = load(app, args.candidates, scenarios[0].now, args.views)
    log(
        f"  loaded in {loaded.seconds:.0f} s: {loaded.candidates:,} candidates ({loaded.cohort_members:,} in 6 "
        f"cohorts), {loaded.story_events:,} story events, {loaded.view_events:,} page views; the story's "
        f"audience {loaded.audience:,}, of whom {loaded.expected:,} have a story left to read"
    )
    try:
        return loaded, measured_in_fresh_process(url, scenarios, args.runs)
    finally:
        if name == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)


def verdict(measured: Measured) -> str:
    return "PASS" if measured.best < measured.scenario.goal_s and measured.median < measured.scenario.goal_s else "FAIL"


def print_table(results: dict, skipped: dict, args) -> bool:
    """The table (also in bench/results/automations.txt) and the plans (automations-plans-<db>.txt); True when
    every goal was met, every run queued what it should and no database failed."""
    size = args.candidates
    lines = [
        "",
        f"Automations: evaluate(now) + commit over {size:,} candidates, best and median of {args.runs} runs",
        harness.software("SQLAlchemy", "psycopg", "SQLite"),
        "",
        f"{'database':<11} {'scenario':<12} {'queued':>8} {'expected':>8} {'best s':>7} {'median s':>8} "
        f"{'goal':>7} {'':<5} {'peak RSS MB':>11} {'others':>6}",
    ]
    ok = True
    for name, (loaded, measured) in results.items():
        for scenario in measured["scenarios"]:
            expected = loaded.expected if scenario.scenario.story_due else 0
            counts_right = set(scenario.queued) == {expected} and scenario.reported == scenario.queued
            others = max(scenario.others)
            passed = verdict(scenario)
            ok &= counts_right and (passed == "PASS" or size < GOAL_SIZE)
            lines.append(
                f"{name:<11} {scenario.scenario.name:<12} {scenario.queued[-1]:>8,} {expected:>8,} "
                f"{scenario.best:>7.2f} {scenario.median:>8.2f} {f'< {scenario.scenario.goal_s:.0f} s':>7} "
                f"{passed:<5} {measured['peak_mb']:>11.0f} {others:>6.0%}"
                + ("  <- disturbed" if others > harness.BUSY_LIMIT else "")
                + ("" if counts_right else f"  <- WRONG COUNT: runs queued {scenario.queued}")
            )
    for name, reason in skipped.items():
        lines.append(f"{name:<11} skipped: {reason}")
        ok &= not reason.startswith("FAILED")
    lines += [
        "",
        "queued: rows in the outbox after the run (every run queued the same); expected: the story's audience with",
        "a published story left to read, counted from the data. peak RSS MB: VmHWM of the measuring process (a",
        "fresh interpreter: imports, the app and every run); others: the share of the machine other work used",
        f"during the busiest run (above {harness.BUSY_LIMIT:.0%}: disturbed, run again on a quiet machine).",
    ]
    if size < GOAL_SIZE:
        lines.append(f"The goals are for {GOAL_SIZE:,} candidates; at {size:,} PASS/FAIL is only indicative.")
    for name, (loaded, measured) in results.items():
        notes = [f"loaded in {loaded.seconds:.0f} s", f"{loaded.story_events:,} story events"]
        notes.append(f"{loaded.view_events:,} page views")
        notes.append(f"measuring process {measured['baseline_mb']:.0f} MB before the first run")
        if measured["backend_peak_mb"] is not None:
            notes.append(f"PostgreSQL backend VmHWM {measured['backend_peak_mb']:.0f} MB (shared buffers it touched)")
        lines.append(f"{name}: " + "; ".join(notes))
        for scenario in measured["scenarios"]:
            runs = ", ".join(f"{seconds:.2f}" for seconds in scenario.seconds)
            lines.append(
                f"  {scenario.scenario.name}: runs {runs} s; {scenario.statement_count} statements, the slowest:"
            )
            for seconds, rows, sql in scenario.statements:
                lines.append(f"    {seconds:7.3f} s {rows:>8,} rows  {sql[:90]}")
        plans = "\n\n".join(
            f"===== {name}, {size:,} candidates, {scenario.scenario.name}: its slowest statement =====\n\n"
            + scenario.plan
            for scenario in measured["scenarios"]
        )
        path = harness.result_file(f"automations-plans-{name}.txt")
        path.write_text(plans + "\n")
        lines.append(f"  plans: {path.relative_to(ROOT)}")
    lines.append("Goals met, counts right." if ok else "A goal was missed or a count is wrong.")
    harness.report(lines, "automations.txt")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = harness.argument_parser(__doc__, "keepwarm_automations_bench")
    parser.add_argument("--candidates", type=int, default=GOAL_SIZE, help="candidates to load (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario (default 3)")
    parser.add_argument(
        "--views",
        type=int,
        default=0,
        help="page-view engagement events per candidate besides the story opens (default 0)",
    )
    args = parser.parse_args(argv)
    databases, skipped = harness.chosen_databases(args)
    log(f"Keepwarm automations bench: {harness.software('SQLAlchemy', 'psycopg', 'SQLite')}")
    started = time.monotonic()
    with harness.scratch_folder("keepwarm-automations-bench-") as workdir:
        results = harness.measure_each(databases, skipped, lambda name: run_database(name, args, workdir))
    ok = print_table(results, skipped, args)
    log(f"\n(whole run {(time.monotonic() - started) / 60:.1f} min)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
