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
from tests import builders

SECRET = "test-secret-key-of-sufficient-length-0123456789"


@pytest.fixture(scope="session")
def redis_url():
    """One Redis for the session: the machine's when TEST_REDIS_URL says so, else one embedded server."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    with embedded_redis() as url:
        yield url


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
        "RATELIMIT_STORAGE_URI": None,  # derived from REDIS_URL below
        "PUBLIC_BASE_URL": "http://localhost",
        # CSRF has its own tests with it switched on (test_candidate_links, test_hr).
        "WTF_CSRF_ENABLED": False,
        **overrides,
    }


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, redis_url):
    """Migrate one database per session with the real Alembic revisions."""
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    app = create_app(_config(url, redis_url))
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        db.engine.dispose()
    return url


def _empty_all_tables() -> None:
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if db.engine.dialect.name == "postgresql":
            connection.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(sa.text(f'DELETE FROM "{table}"'))


@pytest.fixture
def make_app(database_url, redis_url):
    """Build an app with extra settings; every table is emptied and Redis flushed afterwards."""
    apps = []

    def factory(**overrides):
        config = _config(database_url, redis_url, **overrides)
        from portal.config import limiter_storage_uri
        config["RATELIMIT_STORAGE_URI"] = limiter_storage_uri(redis_url)
        app = create_app(config)
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
def site(app):
    """The shared content every candidate page shows: pipeline, stories, checklist."""
    return builders.gen_site()


@pytest.fixture
def now():
    """The test's "now", fixed for the whole test: pass it on instead of reading the clock again."""
    from portal.models import utcnow

    return utcnow().replace(microsecond=0)
