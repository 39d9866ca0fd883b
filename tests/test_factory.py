import pytest

from portal import create_app
from portal.config import ConfigError, normalise_database_url


def test_testing_flag(app):
    assert app.testing
    assert not create_app({"SECRET_KEY": "x"}).testing


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL"])
def test_production_refuses_to_start_without_its_settings(monkeypatch, missing):
    env = {"KEEPWARM_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "postgresql://x/y",
           "REDIS_URL": "redis://127.0.0.1:1/0", "PUBLIC_BASE_URL": "https://jobs.example.com"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError, match=missing):
        create_app()


def test_plain_postgresql_url_uses_psycopg3():
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x") == "sqlite:///x"


def test_development_secret_key_is_generated_once_and_shared(tmp_path):
    from portal.config import instance_secret_key

    first = instance_secret_key(str(tmp_path))
    assert len(first) >= 40
    assert instance_secret_key(str(tmp_path)) == first
