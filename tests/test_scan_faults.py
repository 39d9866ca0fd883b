"""The scan under faults, with real processes: concurrent scans, a worker killed mid-scan."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Flag
from tests.builders import gen_candidate

ROOT = Path(__file__).resolve().parent.parent


def _quiet_candidates(site, now, count):
    for index in range(count):
        candidate = gen_candidate(site, [("passed", now - timedelta(days=20))], name=f"Q{index}")
        candidate.last_seen_at = now - timedelta(days=4 + index % 6)
    db.session.commit()


def _env(app):
    return {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "FLASK_APP": "portal",
    }


def _open_flags_per_candidate_and_rule():
    return db.session.execute(
        sa.select(Flag.candidate_id, Flag.rule, sa.func.count())
        .where(Flag.resolved_at.is_(None))
        .group_by(Flag.candidate_id, Flag.rule)
    ).all()


def test_two_scans_at_once_leave_exactly_one_open_flag_each(app, site, now):
    _quiet_candidates(site, now, 120)
    command = [sys.executable, "-m", "flask", "scan"]
    runs = [
        subprocess.Popen(command, cwd=ROOT, env=_env(app), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    counts = _open_flags_per_candidate_and_rule()
    assert len(counts) == 120 and {count for _c, _r, count in counts} == {1}
    raised = sum(
        int(line.split("raised ")[1].split(",")[0])
        for out in outputs
        for line in out.splitlines()
        if line.startswith("gone_quiet")
    )
    assert raised == 120  # each flag raised by exactly one of the two scans


WORKER = """
import os, sys, time
from portal import create_app
from portal.extensions import db
from portal.services import scan

original = scan._insert_flags

def slow_insert(rule, now):
    count = original(rule, now)
    db.session.flush()
    print("inserted", os.getpid(), flush=True)  # RQ's work horse runs in its own session: report its pid
    time.sleep(60)  # holds the scan's transaction open until the test kills us (bounded, should the test fail first)
    return count

scan._insert_flags = slow_insert
app = create_app()
with app.app_context():
    from portal.jobs import redis_connection
    import worker
    worker.build_worker(redis_connection()).work(burst=True)
"""


def test_a_worker_killed_mid_scan_loses_and_duplicates_nothing(app, site, now, tmp_path):
    from rq import SimpleWorker
    from rq.job import Job
    from rq.registry import StartedJobRegistry
    from rq.serializers import JSONSerializer

    import worker
    from portal.jobs import QueueName, queue, redis_connection
    from portal.jobs.schedule import enqueue_due

    _quiet_candidates(site, now, 50)
    connection = redis_connection()
    enqueue_due(now, connection)
    script = tmp_path / "slow_worker.py"
    script.write_text(WORKER)
    env = _env(app)
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline and "inserted" not in line:
        line = process.stdout.readline()
        assert line or process.poll() is None, "worker ended before the scan wrote anything"
    horse = int(line.split()[1])
    # As when the machine dies: the worker and its work horse (RQ gives the horse its own session).
    os.kill(horse, signal.SIGKILL)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Flag)) == 0  # the killed scan committed nothing
    # The killed job is not lost: once its heartbeat lapses (RQ 3.0: 90 s after the last one; the clock
    # is moved on here rather than waited for), a worker's maintenance finds it and retries it.
    scans = queue(connection, QueueName.SCAN)
    started = StartedJobRegistry(queue=scans)
    [killed_job] = [job_id.split(":")[0] for job_id in started.get_job_ids()]
    started.cleanup(timestamp=time.time() + 91)
    assert killed_job in scans.get_job_ids()
    fresh = worker.build_worker(connection, [QueueName.SCAN], worker_class=SimpleWorker)
    fresh.work(burst=True)
    assert Job.fetch(killed_job, connection=connection, serializer=JSONSerializer).get_status() == "finished"
    # And the next period's scan completes too, duplicating nothing.
    enqueue_due(now + timedelta(seconds=app.config["SCAN_INTERVAL_SECONDS"]), connection)
    fresh.work(burst=True)
    db.session.expire_all()
    counts = _open_flags_per_candidate_and_rule()
    assert len(counts) == 50 and {count for _c, _r, count in counts} == {1}
