"""The run command: it stops everything it started, however it is asked to stop."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_arguments(pids) -> list[list[str]]:
    """What each ``worker.py`` among ``pids`` was started with."""
    found = []
    for pid in pids:
        line = Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")
        found += [line[index + 1 :] for index, part in enumerate(line[:2]) if part.endswith("worker.py")]
    return sorted(found)


def _alive(pids) -> list[int]:
    return [
        pid
        for pid in pids
        if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    ]


def _children(pid: int, recursive: bool = True) -> set[int]:
    found = set()
    for line in subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout.splitlines():
        child, parent = map(int, line.split())
        if parent == pid:
            found |= {child} | (_children(child) if recursive else set())
    return found


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_demo_prints_links_and_stops_everything(tmp_path, how):
    port = _free_port()
    demo_database = tmp_path / "demo.sqlite"
    env = {**os.environ, "PORT": str(port), "KEEPWARM_DEMO_DATABASE": str(demo_database)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    # Started the way a shell starts a background job: SIGINT ignored, which the launcher must undo.
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.launcher"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in output, output
        assert demo_database.exists()  # its own file: a demo running from this checkout keeps its data
        assert "hr@example.com / keepwarm-hr" in output and "admin@example.com / keepwarm-admin" in output
        assert output.count(f"http://127.0.0.1:{port}/c/") == 7  # the five states, a waitlisted and a cancelled one
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # listening when the banner appears
        # Two workers (scans alone; messages and the rest) and the scheduler run beside the web:
        # the first scan happens right away, and every queue has its worker.
        health = []

        def healthy():
            try:
                answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
            except OSError:  # a busy machine: ask again
                return False
            health[:] = answer.read().decode().splitlines()
            return health[0] == "ok"

        wait_until(healthy, timeout=max(deadline - time.monotonic(), 1), interval=0.5, what="/healthz to say ok")
        assert [line.split(":")[0] for line in health[1:]] == [
            "queue messages",
            "queue default",
            "queue scan",
            "outbox",
        ], health
        assert all(line.endswith(", workers 1") for line in health[1:-1]), health
        # The two emails HR "sent" at start reach the local mailbox (unless it is night in the office's zone).
        assert "Mail goes to a local mailbox" in output and output.count("  to demo-") == 2, output
        if output.count(": goes now") == 2:
            mail = tmp_path / "mail"
            # And the cancelled cohort's news to its demo member (essential: the same hours as an urgent message).
            wait_until(lambda: len(list(mail.glob("*.eml"))) == 3, timeout=60, interval=0.5, what="three emails")
            for path in mail.glob("*.eml"):
                body = message_from_bytes(path.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
                assert f"http://127.0.0.1:{port}/c/" in body  # each with a link of its own
        children = _children(process.pid)
        workers = _worker_arguments(_children(process.pid, recursive=False))
        assert workers == [["--queues", "messages,default"], ["--queues", "scan"], ["scheduler"]], workers
        process.send_signal(how)
        process.wait(timeout=30)
        # Children the launcher waited for are gone already; give any grandchild a moment to follow.
        wait_until(lambda: not _alive(children), timeout=10, what="every process it started to stop")
    finally:  # a failed assertion must not leave a demo (web, workers, scheduler) running for good
        if process.poll() is None:
            for pid in _children(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait(timeout=10)
