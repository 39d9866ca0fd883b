"""What every benchmark in bench/ shares: paths, arguments, the database, the app, the machine, the output.

A benchmark is a script on top of this module (``bench/run.py``, ``bench/scan.py``). Only the standard
library is imported here at import time: ``bench/scan.py`` forks its measurements from a process it
starts before it imports anything big.
"""

import argparse
import os
import platform
import re
import secrets
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"  # git ignores it
T = TypeVar("T")
sys.path.insert(0, str(ROOT))  # the scripts run as files: ``portal`` is this checkout's

# Each benchmark gets a PostgreSQL database of its own on this server, created when missing, because it
# drops the database's public schema: never the test suite's "test" nor the server's "postgres".
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
FORBIDDEN_DATABASES = ("test", "postgres")
BUSY_LIMIT = 0.10  # share of the machine other work may use before a figure is marked as disturbed


class BenchFailure(Exception):
    """This measurement cannot be trusted; the other databases and sizes still run."""


def log(message: str = "") -> None:
    """Print at once, so a long run shows where it is."""
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Arguments and the databases they choose
# --------------------------------------------------------------------------------------------


def argument_parser(doc: str, database: str) -> argparse.ArgumentParser:
    """A parser described by the script's docstring, with ``--db`` and ``--pg-url`` (default: ``database``)."""
    default_url = f"{PG_SERVER}/{database}"
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--pg-url",
        default=default_url,
        help="PostgreSQL to use; its public schema is dropped and recreated, so 'test' and "
        f"'postgres' are refused (default {default_url})",
    )
    return parser


def chosen_databases(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The databases ``--db`` asks for that can be used, and why any other is skipped (printed too)."""
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    skipped = {}
    if "postgresql" in databases:
        reason = postgres_unavailable(args.pg_url)
        if reason:
            log(f"PostgreSQL at {args.pg_url} does not answer, skipping it: {reason}")
            skipped["postgresql"] = reason
            databases.remove("postgresql")
    return databases, skipped


def postgres_unavailable(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None when it answers; a missing database is created."""
    import psycopg
    from sqlalchemy.engine import make_url

    from portal.config import normalise_database_url

    parsed = make_url(normalise_database_url(url))
    if parsed.database in (None, "", *FORBIDDEN_DATABASES):
        return f"refusing to use database {parsed.database!r}: the benchmark drops its public schema"
    plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(plain, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        if "does not exist" not in str(error):
            return _one_line(error)
        try:
            maintenance = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
            with psycopg.connect(maintenance, connect_timeout=3, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{parsed.database}"')
            log(f"Created PostgreSQL database {parsed.database}.")
        except Exception as create_error:  # noqa: BLE001 - any failure is a reason to skip
            return _one_line(create_error)
    except Exception as error:  # noqa: BLE001 - any failure is a reason to skip
        return _one_line(error)
    return None


def _one_line(error: Exception) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def database_url(name: str, args: argparse.Namespace, workdir: Path, filename: str = "bench.sqlite") -> str:
    """SQLite: a new file in ``workdir``; PostgreSQL: ``--pg-url``."""
    if name == "sqlite":
        return f"sqlite:///{workdir / filename}"
    return args.pg_url


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder for the run's SQLite files and the like, removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The app and a fresh schema
# --------------------------------------------------------------------------------------------


def app_environment(database_url: str, redis_url: str | None = None, port: int = 8000) -> dict[str, str]:
    """The environment the benchmarked app is built from, with a new secret key."""
    env = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    # COMPRESS_RESPONSES stays at its default (on); wrk sends no Accept-Encoding, so nothing is compressed.
    return env


def make_app(env: Mapping[str, str]) -> "Flask":
    """The app exactly as gunicorn builds it from ``env``, with the settings spelled out."""
    from portal import create_app
    from portal.config import normalise_database_url

    os.environ.update(env)
    return create_app(
        {
            "SECRET_KEY": env["SECRET_KEY"],
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(env["DATABASE_URL"]),
            "REDIS_URL": env.get("REDIS_URL"),
            "PUBLIC_BASE_URL": env["PUBLIC_BASE_URL"],
        }
    )


def check_columns(columns: dict[str, list[str]], script: str) -> None:
    """Stop when a table's columns are no longer those the generator writes, in that order (inside an app context)."""
    from portal.models import Base

    for name, expected in columns.items():
        found = [column.name for column in Base.metadata.tables[name].columns]
        if found != expected:
            raise SystemExit(
                f"{script}: table {name} now has columns {found}; the generator writes {expected}: update COLUMNS"
            )


def signed_in_client(app: "Flask", email: str, password: str):
    """A test client signed in through GET and POST /hr/login, CSRF token included."""
    client = app.test_client()
    form = client.get("/hr/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    data = {"email": email, "password": password, "csrf_token": token.group(1) if token else ""}
    response = client.post("/hr/login", data=data)
    if response.status_code != 303:
        raise BenchFailure(f"the login of {email} answered {response.status_code}, expected 303")
    return client


def measure_each(databases: list[str], skipped: dict[str, str], measure: Callable[[str], T]) -> dict[str, T]:
    """``measure(name)`` of each database; one that fails is logged and kept in ``skipped`` as FAILED."""
    results = {}
    for name in databases:
        log(f"\n== {name} ==")
        try:
            results[name] = measure(name)
        except BenchFailure as failure:
            log(f"  FAILED: {failure}")
            skipped[name] = f"FAILED: {failure}"
    return results


def migrate_fresh() -> None:
    """Inside an app context: an empty database migrated to the newest revision.

    SQLite starts as a new file; on PostgreSQL the public schema is dropped and recreated.
    """
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from portal.extensions import db

    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade()


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------


def software(*packages: str) -> str:
    """What the figures were measured with: "Python 3.11.2, Flask 3.1.0, SQLite 3.40.1, 2 CPUs"."""
    from importlib.metadata import version

    parts = [f"Python {platform.python_version()}"]
    parts += [f"{name} {sqlite3.sqlite_version if name == 'SQLite' else version(name)}" for name in packages]
    return ", ".join([*parts, f"{os.cpu_count()} CPUs"])


def machine_busy_share(seconds: float = 1.0) -> float:
    """How busy the machine is with nothing of ours running, 0..1."""
    import psutil

    return psutil.cpu_percent(interval=seconds) / 100


def cpu_by_process(names: tuple[str, ...]) -> dict[int, float]:
    """CPU seconds used so far by each running process called one of ``names`` (database servers), by pid."""
    import psutil

    used = {}
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in names:
            try:
                used[process.pid] = cpu_seconds(process)
            except psutil.Error:
                pass
    return used


def cpu_seconds(process) -> float:
    """User + system CPU seconds of a ``psutil.Process``."""
    times = process.cpu_times()
    return times.user + times.system


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def result_file(name: str) -> Path:
    """Where a benchmark writes its file ``name``: bench/results/, which git ignores."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / name


def report(lines: list[str], filename: str) -> str:
    """Print the table and keep it in bench/results/``filename``."""
    text = "\n".join(lines)
    log(text)
    result_file(filename).write_text(text + "\n")
    return text
