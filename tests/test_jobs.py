"""The queue side: periodic jobs enqueued once per period, JSON only, the worker runs the scan, /healthz."""

import json
import socket
import threading
import time
from datetime import timedelta

import redis
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


def test_healthz_and_pages_answer_fast_when_redis_hangs(make_app):
    server = _silent_listener()
    url = f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    app = make_app(REDIS_URL=url, RATELIMIT_STORAGE_URI=url)
    try:
        client = app.test_client()
        for path in ("/healthz", "/hr/login", "/c/" + "x" * 43):
            started = time.monotonic()
            response = client.get(path)
            assert time.monotonic() - started < 2, path
            assert response.status_code < 500, path
        assert client.get("/healthz").data.startswith(b"degraded\nredis:")
    finally:
        server.close()


def test_healthz_is_503_only_without_a_database(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.data.startswith(b"down\ndatabase:")
    assert b"@" not in response.data  # nothing personal, no connection string
