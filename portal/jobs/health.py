"""What /healthz reports about the queue side: Redis, workers, and the last scan."""

import json
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from rq import Worker

from portal.jobs import QUEUE_NAME, queue, redis_connection
from portal.jobs.scan import LAST_SCAN_KEY


def queue_problems(now: datetime) -> list[str]:
    """Reasons the background side is not well; empty when it is. Never personal data."""
    connection = redis_connection(for_web=True)
    try:
        connection.ping()
        workers = Worker.all(queue=queue(connection))
        last = connection.get(LAST_SCAN_KEY)
    except RedisError as error:
        return [f"redis: {type(error).__name__}"]
    problems = []
    if not workers:
        problems.append(f"workers: none listening on {QUEUE_NAME}")
    if last is None:
        problems.append("scan: has not run yet")
    else:
        summary = json.loads(last)
        age = (now - datetime.fromisoformat(summary["at"])).total_seconds()
        if age > 3 * current_app.config["SCAN_INTERVAL_SECONDS"]:
            problems.append(f"scan: last ran {int(age)} s ago")
        for rule, error in summary["failed"].items():
            problems.append(f"scan: rule {rule} failed: {error[:120]}")
    return problems
