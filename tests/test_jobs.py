"""The queue side: periodic jobs enqueued once per period, JSON only, the worker runs the scan, /healthz."""

import json
import os
import socket
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from portal.extensions import db
from portal.jobs import queue, redis_connection
from portal.jobs.scan import LAST_SCAN_KEY
from portal.jobs.schedule import enqueue_due
from portal.models import Flag, utcnow
from tests.builders import gen_candidate

NOW = utcnow()


def _quiet(site):
    candidate = gen_candidate(site, [("passed", NOW - timedelta(days=20))])
    candidate.last_seen_at = NOW - timedelta(days=4)
    db.session.commit()
    return candidate


def test_each_period_is_enqueued_once_however_often_we_ask(app):
    connection = redis_connection()
    first = enqueue_due(NOW, connection)
    assert sorted(job_id.split("-")[0] for job_id in first) == ["purge", "scan"]
    assert enqueue_due(NOW + timedelta(seconds=1), connection) == []  # same period: nothing new
    assert enqueue_due(NOW, redis_connection()) == []  # a second scheduler: nothing new
    later = enqueue_due(NOW + timedelta(seconds=app.config["SCAN_INTERVAL_SECONDS"]), connection)
    assert [job_id.split("-")[0] for job_id in later] == ["scan"]
    assert queue(connection).count == 3


def test_jobs_are_stored_as_json_with_no_arguments(app):
    connection = redis_connection()
    [job_id] = [j for j in enqueue_due(NOW, connection) if j.startswith("scan")]
    raw = connection.hget(f"rq:job:{job_id}", "data")
    import zlib
    payload = json.loads(zlib.decompress(raw))  # JSON, never pickle
    assert payload[0] == "portal.jobs.scan.scan_job" and payload[2] == [] and payload[3] == {}


def test_worker_runs_the_scan_and_leaves_a_summary(app, site):
    _quiet(site)
    connection = redis_connection()
    enqueue_due(NOW, connection)
    worker = SimpleWorker([queue(connection)], connection=connection, serializer=JSONSerializer,
                          log_job_description=False)
    assert worker.work(burst=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Flag)) == 1
    summary = json.loads(connection.get(LAST_SCAN_KEY))
    assert summary["raised"] == 1 and summary["failed"] == {}


def test_worker_is_built_with_json_and_without_argument_logging(app):
    import worker

    built = worker.build_worker(redis_connection())
    assert built.serializer is JSONSerializer or isinstance(built.serializer, type(JSONSerializer))
    assert built.log_job_description is False
    assert built.maintenance_interval == 60


def test_healthz_ok_with_a_worker_and_a_recent_scan(app, site):
    connection = redis_connection()
    worker = SimpleWorker([queue(connection)], connection=connection, serializer=JSONSerializer)
    worker.register_birth()
    try:
        enqueue_due(NOW, connection)
        SimpleWorker([queue(connection)], connection=connection, serializer=JSONSerializer).work(burst=True)
        response = app.test_client().get("/healthz")
        assert response.status_code == 200 and response.data == b"ok\n", response.data
        assert response.mimetype == "text/plain"
    finally:
        worker.register_death()


def test_healthz_degraded_without_workers_or_scan(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.data.decode()
    assert body.startswith("degraded") and "workers" in body and "scan: has not run yet" in body


def _silent_listener():
    """A TCP port that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    threading.Thread(target=lambda: [accepted.append(server.accept()) for _ in range(16)], daemon=True).start()
    return server


def _closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{probe.getsockname()[1]}/0"


@pytest.mark.parametrize("redis_state", ["hanging", "down"])
def test_pages_engagement_and_queue_answer_fast_without_redis(make_app, redis_state):
    server = _silent_listener() if redis_state == "hanging" else None
    url = f"redis://127.0.0.1:{server.getsockname()[1]}/0" if server else _closed_port_url()
    app = make_app(REDIS_URL=url, RATELIMIT_STORAGE_URI=url)
    try:
        with app.app_context():
            from portal.models import ChecklistItem, EngagementEvent
            from tests.builders import PASSWORD, gen_site, gen_user, open_page

            stages = gen_site()
            candidate = gen_candidate(stages, [("passed", NOW)])
            gen_user("hr", email="hr@example.com")
            item = db.session.scalars(sa.select(ChecklistItem.id)).first()
            phone, hr = app.test_client(), app.test_client()
            steps = [
                ("candidate link and page", lambda: open_page(phone, candidate)),
                ("checklist tick", lambda: phone.post(f"/me/checklist/{item}", data={"done": "1"})),
                ("hr login", lambda: hr.post("/hr/login", data={"email": "hr@example.com", "password": PASSWORD})),
                ("hr queue", lambda: hr.get("/hr/queue")),
                ("healthz", lambda: hr.get("/healthz")),
            ]
            for name, step in steps:
                started = time.monotonic()
                response = step()
                assert time.monotonic() - started < 2, name
                assert response.status_code < 500, (name, response.status_code)
            assert hr.get("/hr/queue").status_code == 200
            assert hr.get("/healthz").data.startswith(b"degraded\nredis:")
            kinds = db.session.scalars(sa.select(EngagementEvent.kind)).all()
            assert "view" in kinds and "checklist" in kinds  # engagement is still recorded
    finally:
        if server:
            server.close()


def test_worker_resumes_after_redis_restarts(tmp_path):
    """A real worker keeps running through a Redis restart and then processes new jobs (R27)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import redis as redis_lib
    from rq import Queue
    from rq.job import Job

    server_binary = shutil.which("redis-server")
    if server_binary is None:
        pytest.skip("no redis-server binary on this machine")
    port = int(_closed_port_url().split(":")[2].split("/")[0])

    def start_redis():
        return subprocess.Popen([server_binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)

    def wait_for_redis():
        client = redis_lib.Redis(port=port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                return client.ping()
            except redis_lib.RedisError:
                time.sleep(0.1)
        raise AssertionError("redis did not start")

    server = start_redis()
    wait_for_redis()
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{port}/0", "DATABASE_URL": f"sqlite:///{tmp_path}/w.sqlite",
           "SECRET_KEY": "x" * 40}
    worker = subprocess.Popen([sys.executable, "worker.py"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        server.terminate()
        server.wait(timeout=10)
        time.sleep(3)  # the worker finds Redis gone and backs off
        server = start_redis()
        wait_for_redis()
        connection = redis_lib.Redis(port=port)
        job = Queue("keepwarm", connection=connection, serializer=JSONSerializer).enqueue("os.getpid")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and job.get_status(refresh=True) not in ("finished", "failed"):
            time.sleep(0.5)
        assert Job.fetch(job.id, connection=connection, serializer=JSONSerializer).get_status() == "finished"
        assert worker.poll() is None  # still the same worker
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        server.terminate()
        server.wait(timeout=10)


def test_healthz_is_503_only_without_a_database(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.data.startswith(b"down\ndatabase:")
    assert b"@" not in response.data  # nothing personal, no connection string


def test_a_failed_rule_shows_in_healthz(app, site, monkeypatch):
    from portal.services import scan as scan_module

    def broken(now, config):
        raise RuntimeError("rule exploded")

    monkeypatch.setattr(scan_module, "RULES", (scan_module.Rule("broken", "Broken", "Broken", broken, str),) + scan_module.RULES)
    connection = redis_connection()
    worker = SimpleWorker([queue(connection)], connection=connection, serializer=JSONSerializer)
    worker.register_birth()
    try:
        enqueue_due(NOW, connection)
        SimpleWorker([queue(connection)], connection=connection, serializer=JSONSerializer).work(burst=True)
        body = app.test_client().get("/healthz").data.decode()
        assert body.startswith("degraded") and "scan: rule broken failed: RuntimeError: rule exploded" in body
    finally:
        worker.register_death()
