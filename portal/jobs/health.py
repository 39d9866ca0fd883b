"""What /healthz reports about the queue side: Redis, each queue and its workers, and the last scan."""

import json
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job

from portal.jobs import QueueName, queue, redis_connection
from portal.jobs.scan import LAST_SCAN_KEY


@dataclass
class QueueHealth:
    problems: list[str] = field(default_factory=list)  # why the background side is not well
    queues: list[str] = field(default_factory=list)  # one line per queue, always shown


def _oldest_wait(jobs: Queue, now: datetime) -> int | None:
    """Seconds the job at the head of the queue has waited since it was enqueued; None when empty."""
    for job_id in jobs.get_job_ids(0, 1):
        try:
            enqueued_at = Job.fetch(job_id, connection=jobs.connection, serializer=jobs.serializer).enqueued_at
        except NoSuchJobError:
            return None  # expired or deleted while we looked; the workers skip it too
        if enqueued_at is not None:
            return max(0, int((now - enqueued_at).total_seconds()))  # another host's clock may run ahead
    return None


def queue_health(now: datetime) -> QueueHealth:
    """Depth, oldest job's age and workers per queue, and the reasons to worry. Never personal data.

    Uses the web's Redis client, which gives up within a second, so a hung Redis cannot stall /healthz.
    """
    connection = redis_connection(for_web=True)
    health = QueueHealth()
    try:
        connection.ping()
        for name in QueueName:
            jobs = queue(connection, name)
            workers = len(Worker.all(queue=jobs))  # registered and alive (their key has not expired)
            oldest = _oldest_wait(jobs, now)
            running = jobs.started_job_registry.get_job_count(cleanup=False)  # a read: workers clean up
            line = f"queue {name}: depth {jobs.count}"
            if oldest is not None:
                line += f", oldest {oldest} s"
            health.queues.append(f"{line}, running {running}, workers {workers}")
            if not workers:
                health.problems.append(f"workers: none listening on {name}")
        last = connection.get(LAST_SCAN_KEY)
    except RedisError as error:
        return QueueHealth(problems=[f"redis: {type(error).__name__}"])
    if last is None:
        health.problems.append("scan: has not run yet")
    else:
        summary = json.loads(last)
        age = (now - datetime.fromisoformat(summary["at"])).total_seconds()
        if age > 3 * current_app.config["SCAN_INTERVAL_SECONDS"]:
            health.problems.append(f"scan: last ran {int(age)} s ago")
        for rule, reason in summary["failed"].items():
            health.problems.append(f"scan: rule {rule} failed: {reason[:120]}")
    return health
