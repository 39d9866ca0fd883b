"""The periodic risk scan as a job."""

import json
import time

from rq import get_current_job

from portal.extensions import db
from portal.jobs import redis_connection
from portal.models import utcnow
from portal.services.scan import run_scan

LAST_SCAN_KEY = "keepwarm:scan:last"


def scan_job() -> dict:
    """Run every risk rule once, commit, and leave a summary where /healthz and operators see it."""
    started = time.monotonic()
    result = run_scan(utcnow())
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
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"rules": len(result.rules), "done": len(result.rules)}
        job.save_meta()
    return summary
