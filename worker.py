"""Keepwarm's background processes.

    python worker.py                            an RQ worker on every queue (messages, default, scan)
    python worker.py --queues messages,default  a worker that never takes a scan
    python worker.py --queues scan              a worker for the risk scan alone
    python worker.py scheduler                  the one periodic scheduler (portal/jobs/schedule.py)

A worker takes work from its queues in the order given and runs RQ's scheduler too (for retries).
Production runs a worker that never takes scans beside the scan workers, so a message never waits
for a long scan (README). Every process builds the app and owns its context; settings come from the
environment as for the web.
"""

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from rq import Worker
from rq.serializers import JSONSerializer

from portal.jobs import QueueName


def queue_names(text: str) -> list[QueueName]:
    """``messages,default`` -> those queues in that order; an unknown name is an error."""
    names = []
    for part in text.split(","):
        try:
            name = QueueName(part.strip())
        except ValueError:
            known = ", ".join(QueueName)
            raise argparse.ArgumentTypeError(f"unknown queue {part.strip()!r} (queues: {known})") from None
        if name not in names:
            names.append(name)
    return names


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="worker.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", choices=["scheduler"], help="run the periodic scheduler instead")
    parser.add_argument(
        "--queues",
        type=queue_names,
        metavar="NAME,...",
        help="the queues to take work from, in order (default: " + ",".join(QueueName) + ")",
    )
    arguments = parser.parse_args(argv)
    if arguments.command == "scheduler" and arguments.queues:
        parser.error("the scheduler enqueues on every queue; --queues is for workers")
    if arguments.queues is None:
        arguments.queues = list(QueueName)
    return arguments


def build_worker(connection, queues: Sequence[QueueName] = tuple(QueueName), worker_class=Worker) -> Worker:
    """The worker: JSON jobs, no job arguments in its logs, and abandoned jobs found in a few minutes.

    A job whose worker died stays "started" until its heartbeat lapses (RQ 3.0: 90 s); the next
    maintenance of a worker on that queue (every WORKER_MAINTENANCE_SECONDS, or when an idle worker's
    wait for a job, WORKER_TTL_SECONDS - 15, ends) then retries it. RQ's defaults, 600 s and 420 s,
    took 10+ minutes. Tests pass ``SimpleWorker`` to run jobs in their own process.
    """
    from flask import current_app

    from portal.jobs import queue

    config = current_app.config
    return worker_class(
        [queue(connection, name) for name in queues],
        connection=connection,
        serializer=JSONSerializer,
        log_job_description=False,
        maintenance_interval=config["WORKER_MAINTENANCE_SECONDS"],
        worker_ttl=config["WORKER_TTL_SECONDS"],
    )


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv[1:])

    from portal import create_app
    from portal.jobs import redis_connection
    from portal.jobs.schedule import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    with app.app_context():
        if arguments.command == "scheduler":
            stopping = []
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stopping.append(True))
            run_scheduler(stop=lambda: bool(stopping))
            return 0
        build_worker(redis_connection(), arguments.queues).work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
