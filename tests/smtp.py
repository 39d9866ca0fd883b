"""A real SMTP server in-process (aiosmtpd) that keeps what it accepted and answers as a test scripts it,
and a server that accepts connections and never says a word."""

import socket
import threading
from contextlib import contextmanager
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sink:
    """aiosmtpd's handler: ``answers`` are said to DATA in turn ("451 …"; None accepts; DROP hangs up without a
    word), then all accepted. ``sessions`` counts EHLOs: one a connection (without STARTTLS)."""

    DROP = "drop"

    def __init__(self) -> None:
        self.answers: list[str | None] = []
        self.accepted: list[bytes] = []
        self.attempts = 0
        self.sessions = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.attempts += 1
            answer = self.answers.pop(0) if self.answers else None
            if answer == self.DROP:
                server.transport.close()
                return "421 closing"  # never heard: the connection is gone
            if answer:
                return answer
            self.accepted.append(envelope.original_content or envelope.content)
        return "250 Message accepted"

    def messages(self):
        return [message_from_bytes(raw, policy=policy.default) for raw in self.accepted]


@contextmanager
def smtp_sink(**server_options):
    """A Sink on a port of its own; ``server_options`` go to aiosmtpd's SMTP (an ``authenticator``, say)."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), **server_options)
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


@contextmanager
def silent_server():
    """Accepts every connection and never answers: a mail server that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()
