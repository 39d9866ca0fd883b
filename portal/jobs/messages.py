"""The outbox's sender as a job on the messages queue: batches until nothing is due (or its time is up)."""

import time

from flask import current_app

from portal.services.outbox import Delivery, send_due

BUDGET_SECONDS = 50  # under the job's timeout; what is left waits for the next run


def send_due_job() -> dict:
    """Send what is due now, a batch at a time, each over one SMTP connection; returns the counts."""
    total = Delivery()
    started = time.monotonic()
    while time.monotonic() - started < BUDGET_SECONDS:
        done = send_due()
        for name in ("sent", "retrying", "failed", "dropped"):
            setattr(total, name, getattr(total, name) + getattr(done, name))
        if done.sent + done.retrying + done.failed + done.dropped < current_app.config["OUTBOX_BATCH"]:
            break
    return {"sent": total.sent, "retrying": total.retrying, "failed": total.failed, "dropped": total.dropped}
