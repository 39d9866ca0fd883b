"""Our own small periodic scheduler: periodic jobs as data, enqueued with stable ids.

RQ 3.0's ``rq cron`` ignores ``-S json`` and has no job ids, so periodic jobs are enqueued here:
the id names the period (``scan-<n>``) and ``unique=True`` makes a second scheduler, a restart or
a retry within the same period change nothing. The run command starts one scheduler; two would
still enqueue each period's job once.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import DuplicateJobError

from portal.jobs import QueueName, queue, redis_connection
from portal.models import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    function: str
    queue: QueueName
    every_seconds: int
    timeout_seconds: int


def periodic_jobs() -> tuple[PeriodicJob, ...]:
    """Every periodic job, with the queue it runs on."""
    config = current_app.config
    return (
        PeriodicJob("scan", "portal.jobs.scan.scan_job", QueueName.SCAN, config["SCAN_INTERVAL_SECONDS"], 600),
        PeriodicJob("purge", "portal.jobs.retention.purge_job", QueueName.DEFAULT, 24 * 3600, 600),
        # The outbox: rows are the truth, this only wakes the sender (a row due at 09:00 waits at most this long).
        PeriodicJob(
            "outbox", "portal.jobs.messages.send_due_job", QueueName.MESSAGES, config["OUTBOX_INTERVAL_SECONDS"], 120
        ),
        # Time-based automations: a set-based pass that queues what fell due since the last one.
        PeriodicJob(
            "automations",
            "portal.jobs.messages.evaluate_automations_job",
            QueueName.DEFAULT,
            config["AUTOMATION_INTERVAL_SECONDS"],
            300,
        ),
    )


def enqueue_due(now: datetime, connection) -> list[str]:
    """Enqueue each periodic job for the period ``now`` falls in; returns the ids enqueued now."""
    enqueued = []
    for job in periodic_jobs():
        job_id = f"{job.name}-{int(now.timestamp()) // job.every_seconds}"
        try:
            # A job whose worker died is found by the next maintenance of a worker on its queue and,
            # thanks to the retry, run again (R23); the jobs are idempotent, so a second run changes nothing.
            queue(connection, job.queue).enqueue(
                job.function,
                job_id=job_id,
                unique=True,
                job_timeout=job.timeout_seconds,
                result_ttl=job.every_seconds * 2,
                failure_ttl=7 * 24 * 3600,
                retry=Retry(max=2),
            )
        except DuplicateJobError:
            continue
        enqueued.append(job_id)
    return enqueued


def run_scheduler(stop=lambda: False, tick_seconds: float = 1.0) -> None:
    """Enqueue due jobs until ``stop()``; survives Redis restarts by trying again."""
    connection = redis_connection()
    backoff = tick_seconds
    while not stop():
        try:
            for job_id in enqueue_due(utcnow(), connection):
                log.info("enqueued %s", job_id)
            backoff = tick_seconds
        except RedisError as error:
            log.warning("Redis unavailable (%s); retrying in %.0f s", type(error).__name__, backoff)
            backoff = min(backoff * 2, 30)
        time.sleep(backoff)
