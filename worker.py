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
    """The worker: JSON jobs, no job arguments in its logs, abandoned jobs found within about a minute."""
    from portal.jobs import queue

    return Worker([queue(connection)], connection=connection, serializer=JSONSerializer,
                  log_job_description=False, maintenance_interval=60)


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
