"""The HR candidates list at 100,000 candidates and 10,000,000 engagement events, and a 10,000-row import.

    .venv/bin/python bench/hr_list.py                  # SQLite and PostgreSQL, full size (minutes per database)
    .venv/bin/python bench/hr_list.py --quick          # 10,000 candidates, 10 events each
    .venv/bin/python bench/hr_list.py --db sqlite --candidates 50000 --requests 50

For each database: migrate a fresh one, bulk-load 20 HR owners and an admin, the demo pipeline's stages,
300 cohorts and the candidates (30 sites, 10 positions, tags, ~10 % with open flags, contacts due, visits
over 60 days, 100 engagement events each on average). Then, logged in through the real login form as an
HR user who owns ~5 % of them and as an admin, send ``GET /hr/?…`` for each view (unfiltered, by stage,
owner, site, flag state, tier, a phone search) through ``app.test_client()``: p50/p95 of the request's wall
time and its statements, counted at the cursor. Last, a 10,000-row CSV through ``services.importing`` as
``flask import-candidates`` runs it. Exits with 1 when a goal is missed. See bench/README.md.
"""

import json
import random
import re
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import harness
import hr_page  # the CPU share of other work while measuring (cpu_snapshot, others_share)
import scan  # its Loader: COPY on PostgreSQL, executemany of pre-formatted tuples on SQLite
from harness import log

GOAL_MS, GOAL_TIER_MS, GOAL_IMPORT_S = 50.0, 200.0, 10.0
IMPORT_ROWS = 10_000
CHUNK = 5_000  # candidates per load batch (each with ~100 engagement events)
WARMUP = 3
PLAN_FROM_S = 0.005  # statements faster than this are listed without a plan
H, D = 3600.0, 86400.0
ADMIN_EMAIL, HR_EMAIL = "bench-admin@example.com", "bench-hr-0@example.com"
HR_OWNERS = 20  # HR staff who own candidates; the first of them is the one who signs in
UNASSIGNED_SHARE = 0.05
COHORTS = 300  # one every two days, the newest starting in 60 days
TAGS = ("校招", "夜班", "内推", "需住宿", "返聘", "优先")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国晨欣怡子轩浩宇梓涵雨"
CITIES = {
    "上海": ("浦东", "徐汇", "静安", "闵行", "宝山", "嘉定"),
    "北京": ("朝阳", "海淀", "丰台", "通州", "西城"),
    "广州": ("天河", "越秀", "番禺", "白云", "海珠"),
    "深圳": ("南山", "福田", "宝安", "龙岗", "罗湖"),
    "杭州": ("西湖", "滨江", "萧山", "余杭", "拱墅"),
    "成都": ("锦江", "武侯", "高新", "青羊"),
}
SITES = tuple(f"{city} · {district}店" for city, districts in CITIES.items() for district in districts)
POSITIONS = (
    "门店导购",
    "收银员",
    "仓库理货员",
    "店长助理",
    "客服专员",
    "配送员",
    "烘焙师",
    "咖啡师",
    "防损员",
    "陈列专员",
)
SOURCES = ("门店招聘会", "BOSS直聘", "校园招聘", "内部推荐", "58同城", "前程无忧")
RULES = ("gone_quiet", "link_not_opened", "company_side_overdue", "training_notice_not_seen")
# (kind, target, device) of engagement events, drawn once and then used in turn: no random draw per event.
EVENT_KINDS = (("view", "page", 0.70), ("story", "3", 0.15), ("checklist", "2", 0.12), ("prefetch", "page", 0.03))

COLUMNS = {  # every column of each loaded table, in the order the rows are written; checked against the models
    "candidate": [
        "id", "name", "phone", "email", "position", "site", "source_channel", "owner_id", "status",
        "risk_tier_override", "risk_tier_override_by_id", "risk_tier_override_at", "tags", "locale",
        "current_stage_id", "stage_reached_at", "cohort_id", "last_seen_at", "link_issued_at", "last_reached_at",
        "next_contact_on", "created_at", "started_at", "left_at", "left_kind", "left_reason_id", "recontact_on",
        "left_note",
    ],
    "portal_link": [
        "id", "candidate_id", "token_hash", "channel", "issued_at", "issued_by_id", "first_opened_at", "revoked_at",
        "expires_at",
    ],
    "stage_event": ["id", "candidate_id", "stage_id", "reached_at", "actor_id", "note"],
    "engagement_event": ["id", "candidate_id", "link_id", "kind", "target", "occurred_at", "device"],
    "flag": [
        "id", "candidate_id", "rule", "severity", "reason", "evidence_at", "raised_at", "urgent_since",
        "claimed_by_id", "claimed_at", "snoozed_until", "resolved_at", "resolved_by_id", "outcome", "note",
    ],
    "contact": ["id", "candidate_id", "channel", "outcome", "contacted_at", "actor_id", "tier", "next_due_on", "note"],
}  # fmt: skip


@dataclass
class Generated:
    counts: dict = field(default_factory=dict)  # table -> rows written
    hr_owns: int = 0  # candidates the signed-in HR user owns
    flagged: int = 0  # candidates with open flags
    seconds: float = 0.0
    writing: float = 0.0


@dataclass
class Fixture:
    """What the views filter by: ids and values that exist in the loaded data."""

    admin_id: int
    hr_id: int
    other_owner_id: int  # an HR colleague the admin filters by
    stage_id: int
    site: str
    hr_phone: str  # a phone number of a candidate the HR user owns
    hr_name: str


@dataclass
class Row:
    user: str  # admin or hr
    view: str
    url: str
    times: list[float]  # seconds per measured request
    statements: list[int]  # per measured request
    sql: list[float]  # seconds per measured request spent in its statements (at the cursor)
    slowest: list[tuple[float, str, object]]  # the 3 statements with the highest median: (seconds, statement, params)
    others_share: float
    goal_ms: float | None  # None: statements only (the 100-per-page row)
    sample: list[str]  # the statements of one request

    @property
    def p50(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.times, n=20, method="inclusive")[18] * 1000

    @property
    def sql_ms(self) -> float:
        return statistics.median(self.sql) * 1000

    @property
    def counts(self) -> str:
        found = sorted(set(self.statements))
        return "-".join(map(str, found[:1] + found[-1:] if len(found) > 1 else found))


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def generate(
    app, candidates: int, events_per_candidate: int, password: str, now: datetime, seed: int = 20261206
) -> Generated:
    """Migrate a fresh database and load the staff, stages, cohorts and ``candidates`` with their history."""
    import sqlalchemy as sa

    from portal.demo import add_stages
    from portal.extensions import db
    from portal.models import Cohort, User
    from portal.services.staff import create_user

    started = time.perf_counter()
    out = Generated(counts=dict.fromkeys(COLUMNS, 0))
    rng = random.Random(seed)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        harness.migrate_fresh()
        harness.check_columns(COLUMNS, "bench/hr_list.py")
        session = db.session
        create_user(ADMIN_EMAIL, name="Bench Admin", password=password, role="admin", now=now)
        create_user(HR_EMAIL, name="周晓雯", password=password, now=now)
        session.execute(
            sa.insert(User),
            [
                {"email": f"bench-hr-{n}@example.com", "name": person_name(rng), "password_hash": "!", "role": "hr"}
                for n in range(1, HR_OWNERS)
            ],
        )
        admin_id = session.scalar(sa.select(User.id).where(User.email == ADMIN_EMAIL))
        owners = list(session.scalars(sa.select(User.id).where(User.email.like("bench-hr-%")).order_by(User.id)))
        stages = add_stages()
        zone = ZoneInfo(app.config["TIMEZONE"])
        today = now.astimezone(zone).date()
        newest = today + timedelta(days=60)
        session.execute(
            sa.insert(Cohort),
            [
                {
                    "name": f"{(newest - timedelta(days=2 * back)):%Y-%m-%d} {SITES[back % len(SITES)][:2]}批次",
                    "starts_on": newest - timedelta(days=2 * back),
                    "ends_on": newest - timedelta(days=2 * back - 4),
                    "place_zh": f"{SITES[back % len(SITES)][:2]}培训中心",
                    "place_en": "Training centre",
                    "address": "培训中心 1 楼",
                }
                for back in range(COHORTS - 1, -1, -1)
            ],
        )
        session.commit()
        stage_ids = [stage.id for stage in sorted(stages.values(), key=lambda s: s.position)]
        cohort_ids = list(session.scalars(sa.select(Cohort.id).order_by(Cohort.starts_on)))

        loader = scan.Loader(session, COLUMNS)
        if postgres:
            session.execute(sa.text("SET session_replication_role = replica"))  # consistent by construction
        else:
            session.commit()
            session.connection().exec_driver_sql("PRAGMA foreign_keys=OFF")
            session.connection().exec_driver_sql("PRAGMA cache_size=-262144")
        base = now.astimezone(UTC).replace(tzinfo=None)
        suffix = "+00" if postgres else ""  # the stored text form, see scan.Loader

        def ago(seconds: float) -> str:
            return (base - timedelta(seconds=seconds)).isoformat(" ", "microseconds") + suffix

        pattern = [
            (kind, target, "mobile" if rng.random() < 0.85 else "desktop")
            for kind, target, share in EVENT_KINDS
            for _ in range(int(share * 1000))
        ]
        rng.shuffle(pattern)
        visited_share = 0.95
        mean_events = events_per_candidate / visited_share
        most_events = max(1, round(2 * mean_events) - 1)
        ids = dict.fromkeys(COLUMNS, 0)
        rows = loader.rows
        draw, uniform = rng.random, rng.uniform
        progress_every = max(CHUNK, candidates // 10 // CHUNK * CHUNK)
        for cid in range(1, candidates + 1):
            pick = draw()
            owned = (pick - UNASSIGNED_SHARE) / (1 - UNASSIGNED_SHARE)
            owner = None if owned < 0 else owners[int(owned * len(owners))]
            visited = draw() < visited_share
            last_seen = uniform(60, 60 * D) if visited else None
            created = (last_seen or 0) + uniform(2 * D, 90 * D)
            status_pick = draw()
            status = "active" if status_pick < 0.80 else "started" if status_pick < 0.94 else "left"
            if status == "started":
                position = len(stage_ids) - 1
            else:
                position = int(draw() * len(stage_ids))
            reached = created if position == 0 else uniform(H, created - H)
            cohort = None
            if position >= 2:
                back = int(uniform(45, 200)) if status == "started" else int(uniform(10, 45))
                cohort = cohort_ids[max(0, len(cohort_ids) - 1 - back)]
            for step in range(position + 1):
                ids["stage_event"] += 1
                at = created - (created - reached) * step / position if position else created
                rows["stage_event"].append((ids["stage_event"], cid, stage_ids[step], ago(at), owner, ""))

            ids["portal_link"] += 1
            link_id = ids["portal_link"]
            issued = created - H
            first_event = issued - 600
            count = int(uniform(1, most_events + 1)) if visited else 0
            if count:
                step_back = (first_event - last_seen) / (count - 1) if count > 1 else 0
                for n in range(count):
                    ids["engagement_event"] += 1
                    kind, target, device = pattern[ids["engagement_event"] % len(pattern)]
                    rows["engagement_event"].append(
                        (ids["engagement_event"], cid, link_id, kind, target, ago(first_event - step_back * n), device)
                    )
            rows["portal_link"].append(
                (link_id, cid, f"{rng.getrandbits(256):064x}", "sms", ago(issued), owner,
                 ago(first_event) if count else None, None, ago(issued - 90 * D))
            )  # fmt: skip

            last_reached = next_contact = None
            if status == "active" and draw() < 0.4:  # a contact logged; the next one due in -2..12 days
                contacted = uniform(H, 14 * D)
                last_reached = ago(contacted)
                next_contact = (today + timedelta(days=int(uniform(-2, 13)))).isoformat()
                ids["contact"] += 1
                rows["contact"].append(
                    (ids["contact"], cid, "phone", "reached", last_reached, owner, "B", next_contact, "")
                )
            if status == "active" and draw() < 0.125:  # ~10 % of all candidates have open flags
                add_open_flags(rows["flag"], ids, cid, owner, rng, ago)
                out.flagged += 1
            if draw() < 0.2:
                ids["flag"] += 1
                raised = uniform(10 * D, 50 * D)
                rows["flag"].append(
                    (ids["flag"], cid, rng.choice(RULES), "warning", "bench", ago(raised), ago(raised), None,
                     None, None, None, ago(raised - D), owner, rng.choice(("reached_by_phone", "cleared")), "")
                )  # fmt: skip
            tags = rng.sample(TAGS, rng.choice((1, 1, 2))) if draw() < 0.25 else []
            override = rng.choice("ABCD") if draw() < 0.005 else None
            left = status == "left"
            row = {
                "id": cid,
                "name": person_name(rng),
                "phone": f"+86138{cid:08d}",
                "email": f"c{cid}@example.com" if draw() < 0.7 else None,
                "position": rng.choice(POSITIONS),
                "site": rng.choice(SITES),
                "source_channel": rng.choice(SOURCES),
                "owner_id": owner,
                "status": status,
                "risk_tier_override": override,
                "risk_tier_override_by_id": admin_id if override else None,
                "risk_tier_override_at": ago(D) if override else None,
                "tags": json.dumps(tags, ensure_ascii=False),
                "locale": "en" if cid % 10 == 0 else "zh_CN",
                "current_stage_id": stage_ids[position],
                "stage_reached_at": ago(reached),
                "cohort_id": cohort,
                "last_seen_at": ago(last_seen) if visited else None,
                "link_issued_at": ago(issued),
                "last_reached_at": last_reached,
                "next_contact_on": next_contact,
                "created_at": ago(created),
                "started_at": ago(uniform(H, reached)) if status == "started" else None,
                "left_at": ago(D) if left else None,
                "left_kind": rng.choice(("declined", "withdrew", "no_show")) if left else None,
                "left_reason_id": None,
                "recontact_on": (today + timedelta(days=90)).isoformat() if left and draw() < 0.3 else None,
                "left_note": "",
            }
            rows["candidate"].append(tuple(row[column] for column in COLUMNS["candidate"]))
            if owner == owners[0]:
                out.hr_owns += 1
            if cid % CHUNK == 0 or cid == candidates:
                loader.flush()
                if cid % progress_every == 0 or cid == candidates:
                    log(
                        f"  {cid:,} candidates, {ids['engagement_event']:,} engagement events "
                        f"({time.perf_counter() - started:.0f} s)"
                    )
        out.counts = ids | {"candidate": candidates}
        out.writing = loader.seconds
        finish_load(session, postgres)
        session.remove()
        db.engine.dispose()
    out.seconds = time.perf_counter() - started
    return out


def add_open_flags(flags: list, ids: dict, cid: int, owner, rng: random.Random, ago) -> None:
    """One or two open flags making tier B (a warning), C (two warnings, or urgent) or D (urgent for 7+ days)."""
    pick = rng.random()
    kinds = (
        [("warning", None)]
        if pick < 0.55
        else [("warning", None), ("warning", None)]
        if pick < 0.70
        else [("urgent", rng.uniform(H, 6 * D))]
        if pick < 0.90
        else [("urgent", rng.uniform(8 * D, 14 * D))]
    )
    for rule, (severity, urgent_for) in zip(rng.sample(RULES, len(kinds)), kinds, strict=True):
        ids["flag"] += 1
        raised = (urgent_for or 0) + rng.uniform(H, 3 * D)
        claimed = owner is not None and rng.random() < 0.3
        snoozed = rng.random() < 0.1
        flags.append(
            (ids["flag"], cid, rule, severity, "bench", ago(raised + D), ago(raised),
             ago(urgent_for) if urgent_for else None, owner if claimed else None, ago(raised / 2) if claimed else None,
             ago(-2 * D) if snoozed else None, None, None, None, "")
        )  # fmt: skip


def finish_load(session, postgres: bool) -> None:
    """Sequences past the loaded ids; statistics as autovacuum would gather them; a checkpoint."""
    import sqlalchemy as sa

    if postgres:
        session.execute(sa.text("SET session_replication_role = DEFAULT"))
        for table in COLUMNS:
            session.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'(SELECT coalesce(max(id), 0) + 1 FROM "{table}"), false)'
                )
            )
        session.commit()
        with session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM (ANALYZE)"))
            connection.execute(sa.text("CHECKPOINT"))
    else:
        session.commit()
        session.connection().exec_driver_sql("PRAGMA foreign_keys=ON")
        session.connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def fixture(app) -> Fixture:
    """The ids and values the views filter by, read from the loaded data."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import Candidate, Stage, User

    with app.app_context():
        users = dict(db.session.execute(sa.select(User.email, User.id)).all())
        hr_id = users[HR_EMAIL]
        phone, name = db.session.execute(
            sa.select(Candidate.phone, Candidate.name)
            .where(Candidate.owner_id == hr_id)
            .order_by(Candidate.id.desc())
            .limit(1)
        ).one()
        stage_id = db.session.scalar(sa.select(Stage.id).where(Stage.key == "background_check"))
        db.session.remove()
    return Fixture(
        admin_id=users[ADMIN_EMAIL],
        hr_id=hr_id,
        other_owner_id=users["bench-hr-7@example.com"],
        stage_id=stage_id,
        site=SITES[3],
        hr_phone=phone,
        hr_name=name,
    )


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


def views(user: str, fx: Fixture) -> list[tuple[str, dict, float | None, str | None]]:
    """(view, query string, goal in ms, a text the answer must hold) per list view, as the filter form names them.

    The 100-per-page row has no time goal: it shows that a page of 100 sends the statements a page of 25 does."""
    owner = fx.other_owner_id if user == "admin" else fx.hr_id
    return [
        ("unfiltered", {}, GOAL_MS, None),
        ("unfiltered, 100 per page", {"per": "100"}, None, None),
        ("by stage", {"stage": fx.stage_id}, GOAL_MS, None),
        ("by owner", {"owner": owner}, GOAL_MS, None),
        ("by site", {"site": fx.site}, GOAL_MS, None),
        ("flags: open", {"flags": "open"}, GOAL_MS, None),
        ("flags: urgent", {"flags": "urgent"}, GOAL_MS, None),
        ("flags: none", {"flags": "none"}, GOAL_MS, None),
        ("phone search (8 digits)", {"q": fx.hr_phone[-8:]}, GOAL_MS, fx.hr_name),
        ("tier C", {"tier": "C"}, GOAL_TIER_MS, None),
        ("tier A", {"tier": "A"}, GOAL_TIER_MS, None),
    ]


class StatementCounter:
    """Every statement of a request at the cursor, with its time; and the PostgreSQL backends used."""

    def __init__(self, engine):
        self.engine = engine
        self.current: list[tuple[float, str, object]] = []
        self.backends: set[int] = set()
        self._began = 0.0

    def before(self, conn, cursor, statement, parameters, context, executemany):
        self._began = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany):
        self.current.append((time.perf_counter() - self._began, statement, parameters))

    def checkout(self, dbapi_connection, connection_record, connection_proxy):
        if self.engine.dialect.name == "postgresql":
            self.backends.add(dbapi_connection.info.backend_pid)

    def __enter__(self):
        import sqlalchemy as sa

        sa.event.listen(self.engine, "before_cursor_execute", self.before)
        sa.event.listen(self.engine, "after_cursor_execute", self.after)
        sa.event.listen(self.engine, "checkout", self.checkout)
        return self

    def __exit__(self, *exc):
        import sqlalchemy as sa

        sa.event.remove(self.engine, "before_cursor_execute", self.before)
        sa.event.remove(self.engine, "after_cursor_execute", self.after)
        sa.event.remove(self.engine, "checkout", self.checkout)


def measure(
    app, client, user: str, view: str, url: str, goal_ms: float | None, expected: str | None, requests: int
) -> Row:
    """``requests`` timed GETs of ``url`` after WARMUP unmeasured ones; each answer a filtered list with rows."""
    from portal.extensions import db

    with app.app_context():
        engine = db.engine

    def check(response) -> None:
        page = response.get_data(as_text=True)
        if response.status_code != 200:
            raise harness.BenchFailure(f"{url} answered {response.status_code}")
        if 'role="alert"' in page:  # a refused filter value is left out: the row would measure another list
            error = re.search(r'role="alert">([^<]*)<', page)
            raise harness.BenchFailure(f"{url}: the list refused a filter: {error.group(1) if error else '?'}")
        if 'name="bulk-ids"' not in page or (expected and expected not in page):
            raise harness.BenchFailure(f"{url} answered a list without rows (or without {expected})")

    for _ in range(WARMUP):
        check(client.get(url))
    times, counts, sql, requests_seen = [], [], [], []
    with StatementCounter(engine) as counter:
        start = hr_page.cpu_snapshot()
        for _ in range(requests):
            counter.current.clear()
            began = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - began)
            check(response)
            counts.append(len(counter.current))
            sql.append(sum(seconds for seconds, _, _ in counter.current))
            requests_seen.append(list(counter.current))
        others = hr_page.others_share(start, hr_page.cpu_snapshot(), counter.backends)
    last = requests_seen[-1]
    if len(set(counts)) == 1:  # the same statements each time: each one's median
        timed = [
            (statistics.median(request[n][0] for request in requests_seen), last[n][1], last[n][2])
            for n in range(len(last))
        ]
    else:
        timed = last
    slowest = sorted(timed, key=lambda executed: -executed[0])[:3]
    sample = [" ".join(statement.split()) for _, statement, _ in last]
    return Row(user, view, url, times, counts, sql, slowest, others, goal_ms, sample)


def short_form(statement: str) -> str:
    """A statement's start and end: which table, and the WHERE."""
    statement = " ".join(statement.split())
    return statement if len(statement) <= 150 else f"{statement[:90]} … {statement[-55:]}"


def slowest_statements(app, database: str, rows: list[Row]) -> list[str]:
    """Each view that missed its time: its 3 slowest statements; then the plan of each over PLAN_FROM_S, once."""
    lines, plans = [], {}
    for row in rows:
        if row.goal_ms is None or row.p50 < row.goal_ms:
            continue
        lines.append(f"{database} {row.user} {row.view} ({row.url}): p50 {row.p50:.1f} ms, SQL {row.sql_ms:.1f} ms")
        for seconds, statement, parameters in row.slowest:
            key = " ".join(statement.split())
            if key not in plans and seconds >= PLAN_FROM_S:
                plans[key] = (f"[{len(plans) + 1}]", statement, parameters)
            label = plans[key][0] if key in plans else "   "
            lines.append(f"  {seconds * 1000:6.1f} ms {label} {short_form(statement)}")
    for label, statement, parameters in plans.values():
        lines += ["", f"{database} {label} {' '.join(statement.split())}", f"parameters: {parameters}"]
        lines.append(explain(app, statement, parameters))
    return lines


def explain(app, statement: str, parameters) -> str:
    """The plan of one statement with its parameters: EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL."""
    from portal.extensions import db

    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
        try:
            with db.engine.connect() as connection:
                rows = connection.exec_driver_sql(prefix + statement, parameters).all()
                connection.rollback()
        except Exception as error:  # noqa: BLE001 - a plan is a bonus
            return f"(no plan: {type(error).__name__}: {error})"
        finally:
            db.session.remove()
    if postgres:
        return "\n".join(row[0] for row in rows)
    return "\n".join(f"{row[0]:>4} {row[1]:>4}  {row[-1]}" for row in rows)  # id, parent, detail


# --------------------------------------------------------------------------------------------
# The import: 10,000 rows as flask import-candidates runs them
# --------------------------------------------------------------------------------------------


def import_csv(rows: int, rng: random.Random) -> bytes:
    """A CSV as HR's spreadsheets look, phones typed the local way (159…: none of the loaded 138… numbers)."""
    lines = ["姓名,手机,邮箱,岗位,门店,来源"]
    for n in range(1, rows + 1):
        phone = f"159{n:08d}"
        lines.append(
            f"{person_name(rng)},{phone[:3]} {phone[3:7]} {phone[7:]},new{n}@example.org,"
            f"{rng.choice(POSITIONS)},{rng.choice(SITES)},{rng.choice(SOURCES)}"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


@dataclass
class ImportResult:
    seconds: float
    steps: dict  # step -> seconds
    summary: str
    others_share: float
    errors: list = field(default_factory=list)
    statements: list = field(default_factory=list)  # (seconds in all, executions, statement), most time first


def measure_import(app, rows: int) -> ImportResult:
    from portal.extensions import db
    from portal.models import utcnow
    from portal.services.importing import check_rows, import_rows, propose_mapping, read_sheet

    content = import_csv(rows, random.Random(7))
    steps = {}
    with app.app_context():
        now = utcnow()
        with StatementCounter(db.engine) as counter:
            start = hr_page.cpu_snapshot()
            began = mark = time.perf_counter()

            def step(name: str) -> None:
                nonlocal mark
                steps[name] = time.perf_counter() - mark
                mark = time.perf_counter()

            sheet = read_sheet("bench-import.csv", content)
            mapping = propose_mapping(sheet.header)
            step("read")
            checked = check_rows(sheet, mapping, actor=None, now=now)
            step("check")
            report = import_rows(checked, actor=None, now=now, filename="bench-import.csv")
            step("import")
            db.session.commit()
            step("commit")
            seconds = time.perf_counter() - began
            others = hr_page.others_share(start, hr_page.cpu_snapshot(), counter.backends)
        errors = [f"line {row.line}: {message}" for row in checked for message in row.errors][:5]
        db.session.remove()
    by_statement: dict[str, list] = {}
    for spent, statement, _ in counter.current:
        totals = by_statement.setdefault(" ".join(statement.split()), [0.0, 0])
        totals[0] += spent
        totals[1] += 1
    ranked = sorted(((spent, n, statement) for statement, (spent, n) in by_statement.items()), reverse=True)
    return ImportResult(seconds, steps, report.summary(), others, errors, ranked)


# --------------------------------------------------------------------------------------------
# One database
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    generated: Generated
    rows: list[Row]
    imported: ImportResult | None
    explains: list[str]


def measure_database(name: str, args, workdir) -> Result:
    password = secrets.token_urlsafe(16)
    app = harness.make_app(harness.app_environment(harness.database_url(name, args, workdir, "list.sqlite")))
    from portal.models import utcnow

    log(f"  loading {args.candidates:,} candidates, ~{args.candidates * args.events_per_candidate:,} events ...")
    generated = generate(app, args.candidates, args.events_per_candidate, password, utcnow())
    counts = ", ".join(f"{table} {count:,}" for table, count in generated.counts.items())
    log(f"  loaded in {generated.seconds:.0f} s ({generated.writing:.0f} s writing): {counts}")
    fx = fixture(app)
    rows = []
    for user, email in (("hr", HR_EMAIL), ("admin", ADMIN_EMAIL)):
        client = harness.signed_in_client(app, email, password)
        for view, query, goal_ms, expected in views(user, fx):
            url = "/hr/" + (f"?{urlencode(query)}" if query else "")
            row = measure(app, client, user, view, url, goal_ms, expected, args.requests)
            rows.append(row)
            log(
                f"  {user:<5} {view:<26} p50 {row.p50:6.1f} ms  p95 {row.p95:6.1f} ms  SQL {row.sql_ms:5.1f} ms  "
                f"{row.counts} statements, slowest {row.slowest[0][0] * 1000:.1f} ms"
            )
    explains = slowest_statements(app, name, rows)
    imported = None
    if args.import_rows:
        log(f"  importing {args.import_rows:,} rows ...")
        imported = measure_import(app, args.import_rows)
        log(f"  import: {imported.seconds:.2f} s ({imported.summary}); most time in:")
        for spent, executions, statement in imported.statements[:3]:
            log(f"    {spent:5.2f} s in {executions:,}x {short_form(statement)}")
    with app.app_context():
        from portal.extensions import db

        db.engine.dispose()
    for leftover in workdir.glob("list.sqlite*"):  # gigabytes: gone before the next database loads
        leftover.unlink()
    return Result(generated, rows, imported, explains)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def table(results: dict[str, Result], skipped: dict[str, str], args) -> tuple[list[str], list[str]]:
    """The table and the goals missed."""
    lines = [
        "",
        f"GET /hr/?… through app.test_client(): p50/p95 of {args.requests} requests after {WARMUP} unmeasured, "
        f"{args.candidates:,} candidates, {args.events_per_candidate} engagement events each on average.",
        "hr: an HR user (own + unassigned candidates); admin: everyone. Goals: p50 < 50 ms, tier < 200 ms,",
        "the same statements on every request and at 100 per page as at 25; the import < 10 s.",
        "'others': share of the machine other processes used while measuring (above 10 %: disturbed).",
        "",
        f"{'database':<11} {'as':<6} {'view':<26} {'p50 ms':>7} {'p95 ms':>7} {'SQL ms':>7} {'statements':>10} "
        f"{'others':>6}  goal",
    ]
    missed = []
    for database, result in results.items():
        by_user: dict[str, list[Row]] = {}
        for row in result.rows:
            by_user.setdefault(row.user, []).append(row)
        for user, rows in by_user.items():
            base = next(row for row in rows if row.view == "unfiltered")
            for row in rows:
                # Constant: the same count on every request, and a page of 100 sends what a page of 25 does.
                constant = len(set(row.statements)) == 1 and (row.goal_ms is not None or row.counts == base.counts)
                why = [f"statements {row.counts}, not constant"] if not constant else []
                if row.goal_ms is not None and row.p50 >= row.goal_ms:
                    why.insert(0, f"p50 {row.p50:.1f} ms >= {row.goal_ms:.0f} ms")
                verdict = "met" if not why else "MISSED (" + "; ".join(why) + ")"
                if why:
                    missed.append(f"{database} {user} {row.view}: {'; '.join(why)}")
                goal = "statements only: " if row.goal_ms is None else f"< {row.goal_ms:.0f} ms: "
                lines.append(
                    f"{database:<11} {user:<6} {row.view:<26} {row.p50:>7.1f} {row.p95:>7.1f} {row.sql_ms:>7.1f} "
                    f"{row.counts:>10} {row.others_share:>6.0%}  {goal}{verdict}"
                    + ("  <- disturbed" if row.others_share > harness.BUSY_LIMIT else "")
                )
        if result.imported:
            imp = result.imported
            ok = imp.seconds < GOAL_IMPORT_S and not imp.errors
            steps = ", ".join(f"{step} {seconds:.2f}" for step, seconds in imp.steps.items())
            steps += f"; in statements {sum(spent for spent, _, _ in imp.statements):.2f}"
            lines.append(
                f"{database:<11} {'cli':<6} {'import ' + format(args.import_rows, ',') + ' rows':<26} "
                f"{imp.seconds:>6.2f}s {'':>7} {'':>7} {'':>10} {imp.others_share:>6.0%}  "
                f"< {GOAL_IMPORT_S:.0f} s: {'met' if ok else 'MISSED'}"
                f"  ({steps} s; {imp.summary})" + ("  <- disturbed" if imp.others_share > harness.BUSY_LIMIT else "")
            )
            if not ok:
                missed.append(f"{database} import: {imp.seconds:.2f} s, {imp.summary} {imp.errors}")
        gen = result.generated
        lines.append(
            f"{'':<11} data: {gen.counts['candidate']:,} candidates ({gen.flagged:,} with open flags, the HR user owns "
            f"{gen.hr_owns:,}), {gen.counts['engagement_event']:,} engagement events; loaded in {gen.seconds:.0f} s"
        )
    for database, reason in skipped.items():
        lines.append(f"{database:<11} skipped: {reason}")
    if missed:
        lines += ["", "GOALS MISSED:", *(f"  {line}" for line in missed)]
    else:
        lines += ["", "Every goal met."]
    return lines, missed


def main(argv: list[str] | None = None) -> int:
    parser = harness.argument_parser(__doc__, "keepwarm_list_bench")
    parser.add_argument("--candidates", type=int, default=100_000, help="candidates to load (default 100,000)")
    parser.add_argument("--events-per-candidate", type=int, default=100, help="engagement events, on average")
    parser.add_argument("--requests", type=int, default=30, help="measured requests per view (default 30)")
    parser.add_argument("--import-rows", type=int, default=IMPORT_ROWS, help="rows of the import (0: none)")
    parser.add_argument("--quick", action="store_true", help="10,000 candidates with 10 events each")
    args = parser.parse_args(argv)
    if args.quick:
        args.candidates, args.events_per_candidate = 10_000, 10
    databases, skipped = harness.chosen_databases(args)
    log(f"Keepwarm HR list bench: {harness.software('Flask', 'SQLAlchemy')}")
    started = time.monotonic()
    with harness.scratch_folder("keepwarm-list-bench-") as workdir:
        results = harness.measure_each(databases, skipped, lambda name: measure_database(name, args, workdir))
    lines, missed = table(results, skipped, args)
    for result in results.values():
        if result.explains:
            lines += ["", "The slowest statements of each view that missed its time (median ms), then their plans:"]
            lines += result.explains
    lines.append(f"\n(whole run {(time.monotonic() - started) / 60:.1f} min)")
    harness.report(lines, "hr-list-last-run.txt")
    failed = any(reason.startswith("FAILED") for reason in skipped.values())
    return 1 if missed or failed else 0


if __name__ == "__main__":
    sys.exit(main())
