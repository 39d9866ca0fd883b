"""Fixtures: a real database (SQLite file, or TEST_DATABASE_URL) and a real Redis (embedded, or TEST_REDIS_URL)."""

import contextvars
import os

import pytest
import redis
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade

from portal import create_app
from portal.embedded import embedded_redis
from portal.extensions import db
from portal.models import utcnow
from tests import builders

SECRET = "test-secret-key-of-sufficient-length-0123456789"


def _worker_number(worker_id: str) -> int:
    """pytest-xdist's worker ("gw0", "gw1", …; "master" without workers) as a number."""
    return int(worker_id[2:]) if worker_id.startswith("gw") else 0


@pytest.fixture(scope="session")
def redis_url(worker_id):
    """One Redis for each worker: the machine's when TEST_REDIS_URL says so (a db number of each worker's own,
    counting down from the URL's), else one embedded server per worker."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        base, _, number = url.rpartition("/")
        yield f"{base}/{int(number) - _worker_number(worker_id)}" if number.isdigit() else url
        return
    with embedded_redis() as url:
        yield url


def _worker_database(url: str, worker_id: str) -> str:
    """TEST_DATABASE_URL's database for the first worker, and ``<name>_gw1`` (created when missing) for others:
    workers never empty each other's tables."""
    if _worker_number(worker_id) == 0:
        return url
    parsed = sa.engine.make_url(url)
    name = f"{parsed.database}_{worker_id}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


class IsolatedClient(FlaskClient):
    """Each request gets its own app context, ``g`` and session, as in production.

    Flask reuses an app context a test has pushed, which would share ``g`` and the ORM session
    between the test and the request. The test's own work is committed before the request (so
    the request sees it) and after (so the test's objects reload what the request changed).
    """

    def open(self, *args, **kwargs):
        outer = has_app_context()
        if outer:
            db.session.commit()
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if outer:
            db.session.commit()
            db.session.expire_all()
        return response


def _config(database_url: str, redis_url: str, **overrides) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": "http://localhost",
        # CSRF has its own tests with it switched on (test_candidate_links, test_hr).
        "WTF_CSRF_ENABLED": False,
        **overrides,
    }


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, redis_url, worker_id):
    """Migrate one database per worker with the real Alembic revisions."""
    url = os.environ.get("TEST_DATABASE_URL")
    url = _worker_database(url, worker_id) if url else f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    app = create_app(_config(url, redis_url))
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        db.engine.dispose()
    return url


def _empty_all_tables() -> None:
    """Every row gone and, on PostgreSQL, ids counting from 1 again (as SQLite's do once a table is empty).
    DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE's file work cost PostgreSQL ~50 ms a test."""
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        for table in tables:
            connection.execute(sa.text(f'DELETE FROM "{table}"'))
        if db.engine.dialect.name == "postgresql":
            sequences = connection.execute(sa.text("SELECT relname FROM pg_class WHERE relkind = 'S'")).scalars().all()
            if sequences:
                restart = ", ".join(f"setval('\"{name}\"', 1, false)" for name in sequences)
                connection.execute(sa.text(f"SELECT {restart}"))


@pytest.fixture
def make_app(database_url, redis_url):
    """Build an app with extra settings; every table is emptied and Redis flushed afterwards."""
    apps = []

    def factory(**overrides):
        app = create_app(_config(database_url, redis_url, **overrides))
        app.test_client_class = IsolatedClient
        apps.append(app)
        return app

    redis.Redis.from_url(redis_url).flushdb()
    yield factory
    for app in apps:
        if app.config["SQLALCHEMY_DATABASE_URI"] != database_url:
            continue  # a test pointed this app elsewhere (e.g. at a database that does not exist)
        with app.app_context():
            db.session.remove()
            _empty_all_tables()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def now():
    """The time a test runs at, whole seconds: pass it on as now= wherever time matters."""
    return utcnow().replace(microsecond=0)


@pytest.fixture
def site(app):
    """The shared content every candidate page shows: pipeline, stories, checklist."""
    return builders.gen_site()
