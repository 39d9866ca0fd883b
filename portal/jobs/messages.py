"""The outbox's sender as a job on the messages queue: batches until nothing is due (or its time is up)."""

import time

from flask import current_app

from portal.services.outbox import Delivery, send_due

BUDGET_SECONDS = 50  # under the job's timeout; what is left waits for the next run
COUNTS = ("sent", "retrying", "failed", "dropped", "waiting")


def send_due_job() -> dict:
    """Send what is due now, a batch at a time, each over one SMTP connection; returns the counts."""
    total = Delivery()
    started = time.monotonic()
    while time.monotonic() - started < BUDGET_SECONDS:
        done = send_due()
        for name in COUNTS:
            setattr(total, name, getattr(total, name) + getattr(done, name))
        if done.handled < current_app.config["OUTBOX_BATCH"]:
            break
    return {name: getattr(total, name) for name in COUNTS}


def evaluate_automations_job() -> dict:
    """Queue what time-based automations hold for now (services.automations.evaluate), then commit."""
    from portal.extensions import db
    from portal.models import utcnow
    from portal.services.automations import evaluate

    done = evaluate(utcnow())
    db.session.commit()
    return {"queued": done.queued}


def wake_sender() -> None:
    """Ask the messages worker to look now, after a request committed a message HR are waiting to see go.

    Best effort, as Redis only wakes the sender: with Redis down the row waits for the next run. One wake-up
    waits or runs at a time (one job id, forgotten once it ran), so a burst of clicks does not pile up jobs.
    """
    from redis.exceptions import RedisError
    from rq.exceptions import DuplicateJobError

    from portal.jobs import QueueName, queue, redis_connection

    try:
        queue(redis_connection(for_web=True), QueueName.MESSAGES).enqueue(
            send_due_job, job_id="outbox-now", unique=True, job_timeout=120, result_ttl=0, failure_ttl=60
        )
    except DuplicateJobError:
        pass
    except RedisError as error:
        current_app.logger.warning(
            "could not wake the messages worker (%s); the next run sends it", type(error).__name__
        )
