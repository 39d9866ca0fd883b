"""The periodic risk scan as a job."""

import json
import logging
import time

from redis.exceptions import RedisError
from rq import get_current_job
from rq.job import Job

from portal.extensions import db
from portal.jobs import redis_connection
from portal.models import utcnow
from portal.services.scan import run_scan

log = logging.getLogger(__name__)

LAST_SCAN_KEY = "keepwarm:scan:last"


def report_progress(job: Job):
    """A ``run_scan`` progress callback that keeps ``job.meta["progress"]`` up to date in Redis."""

    def report(done: int, total: int, rule: str) -> None:
        job.meta["progress"] = {"done": done, "total": total, "rule": rule}
        try:
            job.save_meta()
        except RedisError as error:
            # Progress is for people watching; the scan's work is in the database and goes on.
            log.warning("scan progress not saved (%s)", type(error).__name__)

    return report


def scan_job() -> dict:
    """Run every risk rule once, commit, and leave a summary where /healthz and operators see it."""
    started = time.monotonic()
    job = get_current_job()
    result = run_scan(utcnow(), progress=report_progress(job) if job is not None else None)
    db.session.commit()
    summary = {
        "at": result.now.isoformat(),
        "seconds": round(time.monotonic() - started, 3),
        "failed": {name: r.error for name, r in result.rules.items() if r.error},
        "raised": sum(r.raised for r in result.rules.values()),
        "escalated": sum(r.escalated for r in result.rules.values()),
        "closed": sum(r.closed for r in result.rules.values()),
    }
    redis_connection().set(LAST_SCAN_KEY, json.dumps(summary))
    return summary
