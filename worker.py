"""Keepwarm's background processes.

    python worker.py             an RQ worker (with RQ's scheduler for retries) on the keepwarm queue
    python worker.py scheduler   the one periodic scheduler (portal/jobs/schedule.py)

Both build the app and own its context; settings come from the environment as for the web.
"""

import logging
import signal
import sys

from rq import Worker
from rq.serializers import JSONSerializer


def build_worker(connection) -> Worker:
    """The worker: JSON jobs, no job arguments in its logs, and abandoned jobs found in a few minutes.

    A job whose worker died stays "started" until its heartbeat lapses (RQ 3.0: 90 s); the next
    maintenance of any worker (every WORKER_MAINTENANCE_SECONDS, or when an idle worker's wait for a
    job, WORKER_TTL_SECONDS - 15, ends) then retries it. RQ's defaults, 600 s and 420 s, took 10+ minutes.
    """
    from flask import current_app

    from portal.jobs import queue

    config = current_app.config
    return Worker([queue(connection)], connection=connection, serializer=JSONSerializer,
                  log_job_description=False, maintenance_interval=config["WORKER_MAINTENANCE_SECONDS"],
                  worker_ttl=config["WORKER_TTL_SECONDS"])


def main(argv: list[str]) -> int:
    from portal import create_app
    from portal.jobs import redis_connection
    from portal.jobs.schedule import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    with app.app_context():
        if argv[1:] == ["scheduler"]:
            stopping = []
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stopping.append(True))
            run_scheduler(stop=lambda: bool(stopping))
            return 0
        if argv[1:]:
            print(__doc__, file=sys.stderr)
            return 2
        build_worker(redis_connection()).work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
