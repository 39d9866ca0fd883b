"""RQ plumbing: the queues, one serializer (JSON), and the Redis connections for web and worker.

Jobs are plain functions of ids (or of nothing) in this package; the worker process owns the app
context (worker.py). The JSON serializer everywhere: job arguments are ids and names only, and a
pickle payload from a Redis we do not fully trust can never run code.
"""

from enum import StrEnum

import redis
from flask import current_app
from rq import Queue
from rq.serializers import JSONSerializer


class QueueName(StrEnum):
    """Each kind of work has its own queue, so a message never waits behind a long scan.

    Listed in the order a worker serving several of them takes work. Priority alone does not keep a
    message from waiting while a scan runs, so production runs a worker that never takes scans
    (``python worker.py --queues messages,default``) beside the scan workers (README).
    """

    MESSAGES = "messages"  # outgoing mail and SMS: minutes matter
    DEFAULT = "default"  # short housekeeping (the retention purge)
    SCAN = "scan"  # the risk scan: minutes long at a million candidates


def redis_connection(*, for_web: bool = False) -> redis.Redis:
    """A client for REDIS_URL; the web's gives up fast so a hung Redis cannot stall a page (R25)."""
    url = current_app.config["REDIS_URL"]
    if for_web:
        return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5, retry=None)
    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30)


def queue(connection: redis.Redis, name: QueueName) -> Queue:
    """The named queue, storing jobs as JSON."""
    return Queue(QueueName(name).value, connection=connection, serializer=JSONSerializer)
