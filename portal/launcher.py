"""``./dev demo``: migrate, load demo data, and run web, workers and scheduler until Ctrl-C.

Starts the embedded Redis when REDIS_URL is unset and hands its URL to every child process.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

DEMO_DATABASE = Path(__file__).resolve().parent.parent / "instance" / "demo.sqlite"


# Access log without client address or user agent: the privacy notice says we record neither.
ACCESS_LOG_FORMAT = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms'


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _wait_until_listening(port: int, process: subprocess.Popen, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if not _port_free(port):
            return True
        time.sleep(0.1)
    return False


def worker_queues() -> tuple[str, ...]:
    """The demo's two workers, as in production (README): one for scans, one for everything else.

    A message must never wait for a scan, and two workers and the scheduler are all a laptop needs.
    """
    from portal.jobs import QueueName

    return (QueueName.SCAN.value, ",".join(name for name in QueueName if name != QueueName.SCAN))


class Stop(Exception):
    """SIGTERM (or SIGINT when a shell started us in the background) ends the demo like Ctrl-C."""


def _raise_stop(signum, _frame):
    raise Stop(signum)


def prepare(env: dict) -> list[str]:
    """Create the schema with migrations and load the demo; returns the lines to print."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.demo import load_demo

    os.environ.update(env)
    app = create_app()
    with app.app_context():
        upgrade()
        return load_demo()


def _banner(base_url: str, links: list[str], fresh: bool, mail_folder: Path | None) -> str:
    from portal.demo import DEMO_USERS

    mailbox = f"Mail goes to a local mailbox: each message is announced here and saved in {mail_folder}/\n"
    logins = "\n".join(f"  {role:<6} {email} / {password}" for email, password, _n, role, _p in DEMO_USERS)
    note = "  (demo data is rebuilt on every start)" if fresh else ""
    return (
        f"\nKeepwarm is running at {base_url}/\n\n"
        f"HR back-office: {base_url}/hr/\n{logins}\n\n"
        f"Candidate links (open on a phone-sized window):\n"
        + "\n".join(links)
        + f"\n{note}\n"
        + (mailbox if mail_folder else "")
        + "Press Ctrl-C to stop.\n"
    )


def main() -> int:
    # A background job inherits SIGINT as ignored; install handlers so both signals stop everything.
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    port = int(os.environ.get("PORT", "8000"))
    if not _port_free(port):
        print(f"Port {port} is already in use. Stop the other server or run with PORT=<another port>.", file=sys.stderr)
        return 1
    env = {"PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}"), "PORT": str(port)}
    fresh = "DATABASE_URL" not in os.environ
    demo_database = Path(os.environ.get("KEEPWARM_DEMO_DATABASE", DEMO_DATABASE))
    if fresh:
        # The tests point this elsewhere, so that running the suite never rebuilds a running demo's data.
        demo_database.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(demo_database) + suffix).unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{demo_database}"

    with ExitStack() as stack:
        if not os.environ.get("REDIS_URL"):
            from portal.embedded import embedded_redis

            env["REDIS_URL"] = stack.enter_context(embedded_redis())
        mail_folder = None
        if not os.environ.get("MAIL_SERVER"):
            from portal.embedded import local_mailbox

            mail_folder = demo_database.parent / "mail"  # beside the demo's data
            env.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(stack.enter_context(local_mailbox(mail_folder))))
        links = prepare(env)
        child_env = {**os.environ, **env}
        bin_dir = Path(sys.executable).parent
        worker_py = str(Path(__file__).resolve().parent.parent / "worker.py")
        processes = [
            subprocess.Popen(
                [
                    str(bin_dir / "gunicorn"),
                    "--workers",
                    "2",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--no-control-socket",
                    "--logger-class",
                    "portal.weblog.RedactingLogger",
                    "--access-logfile",
                    "-",
                    "--access-logformat",
                    ACCESS_LOG_FORMAT,
                    "portal:create_app()",
                ],
                env=child_env,
            ),
            *(
                subprocess.Popen([sys.executable, worker_py, "--queues", queues], env=child_env)
                for queues in worker_queues()
            ),
            subprocess.Popen([sys.executable, worker_py, "scheduler"], env=child_env),
        ]
        try:
            if not _wait_until_listening(port, processes[0]):
                print("The web server did not start; see the messages above.", file=sys.stderr)
                return 1
            print(_banner(env["PUBLIC_BASE_URL"], links, fresh, mail_folder), flush=True)
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except (KeyboardInterrupt, Stop):
            pass
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abandon the children
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        print("Keepwarm stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
