"""RQ plumbing: one queue, one serializer (JSON), and the Redis connections for web and worker.

Jobs are plain functions of ids (or of nothing) in this package; the worker process owns the app
context (worker.py). The JSON serializer everywhere: job arguments are ids and names only, and a
pickle payload from a Redis we do not fully trust can never run code.
"""

import redis
from flask import current_app
from rq import Queue
from rq.serializers import JSONSerializer

QUEUE_NAME = "keepwarm"


def redis_connection(*, for_web: bool = False) -> redis.Redis:
    """A client for REDIS_URL; the web's gives up fast so a hung Redis cannot stall a page (R25)."""
    url = current_app.config["REDIS_URL"]
    if for_web:
        return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5, retry=None)
    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30)


def queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)
