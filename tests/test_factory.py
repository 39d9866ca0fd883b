import logging
import secrets

import pytest

from portal import create_app
from portal.config import ConfigError, load, normalise_database_url

PRODUCTION = {
    "KEEPWARM_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(32),
    "DATABASE_URL": "postgresql://x/y",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "PUBLIC_BASE_URL": "https://jobs.example.com",
}


def production_env(monkeypatch, **changes):
    for key, value in {**PRODUCTION, **changes}.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)


def test_testing_flag(app):
    assert app.testing
    assert not create_app({"SECRET_KEY": "x"}).testing


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL"])
def test_production_refuses_to_start_without_its_settings(monkeypatch, missing):
    production_env(monkeypatch, **{missing: None})
    with pytest.raises(ConfigError, match=missing):
        create_app()


@pytest.mark.parametrize("weak", ["x", "s" * 40, "0123456789abcdef0123456789abcdef", "password" * 4])
def test_production_refuses_a_guessable_secret_key(monkeypatch, weak):
    production_env(monkeypatch, SECRET_KEY=weak)
    with pytest.raises(ConfigError, match="32 random bytes"):
        create_app()


def test_production_starts_with_a_strong_key_over_https(monkeypatch):
    production_env(monkeypatch)
    app = create_app()
    assert app.config["SECURE_COOKIES"] and app.config["SESSION_COOKIE_NAME"] == "__Host-kw_session"
    production_env(monkeypatch, SECRET_KEY=secrets.token_hex(32))  # 64 hex digits are 32 bytes too
    create_app()


def test_production_over_plain_http_needs_an_explicit_setting_and_warns(monkeypatch, caplog):
    production_env(monkeypatch, PUBLIC_BASE_URL="http://jobs.intranet")
    with pytest.raises(ConfigError, match="https"):
        create_app()
    monkeypatch.setenv("ALLOW_INSECURE_HTTP", "1")
    with caplog.at_level(logging.WARNING, logger="portal"):
        app = create_app()
    assert not app.config["SECURE_COOKIES"]
    assert any("plain http" in record.getMessage() for record in caplog.records)


def test_given_settings_win_over_the_environment_and_what_follows_from_it(monkeypatch):
    monkeypatch.setenv("TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    app = create_app(
        {
            "SECRET_KEY": "k" * 40,
            "TIMEZONE": "Asia/Tokyo",
            "SESSION_COOKIE_NAME": "mine",
            "RATELIMIT_STORAGE_URI": "memory://",
            "WTF_CSRF_TIME_LIMIT": 60,
        }
    )
    config = app.config
    assert config["TIMEZONE"] == "Asia/Tokyo" and config["BABEL_DEFAULT_TIMEZONE"] == "Asia/Tokyo"
    assert (config["SESSION_COOKIE_NAME"], config["RATELIMIT_STORAGE_URI"], config["WTF_CSRF_TIME_LIMIT"]) == (
        "mine",
        "memory://",
        60,
    )
    assert create_app({"SECRET_KEY": "k" * 40}).config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:1/0"


def test_a_supplied_secret_key_writes_no_instance_file(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert load(str(tmp_path), {"SECRET_KEY": "given" * 8})["SECRET_KEY"] == "given" * 8
    monkeypatch.setenv("SECRET_KEY", "from-the-environment" * 2)
    assert load(str(tmp_path))["SECRET_KEY"] == "from-the-environment" * 2
    assert not (tmp_path / "secret_key").exists()
    monkeypatch.delenv("SECRET_KEY")
    assert load(str(tmp_path))["SECRET_KEY"] == (tmp_path / "secret_key").read_text().strip()


def test_plain_postgresql_url_uses_psycopg3():
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x") == "sqlite:///x"


def test_development_secret_key_is_generated_once_and_shared(tmp_path):
    from portal.config import instance_secret_key

    first = instance_secret_key(str(tmp_path))
    assert len(first) >= 40
    assert instance_secret_key(str(tmp_path)) == first


def test_a_setting_that_is_not_a_number_gets_a_clear_message(monkeypatch):
    monkeypatch.setenv("SNOOZE_MAX_DAYS", "thirty")
    with pytest.raises(ConfigError, match="SNOOZE_MAX_DAYS must be a whole number, not 'thirty'"):
        create_app({"SECRET_KEY": "k" * 40})


def test_text_messages_are_logged_on_a_laptop_off_in_production_and_http_needs_its_gateway(monkeypatch):
    assert create_app({"SECRET_KEY": "x"}).config["SMS_BACKEND"] == "log"
    production_env(monkeypatch)
    assert create_app().config["SMS_BACKEND"] == "off"
    monkeypatch.setenv("SMS_BACKEND", "sms")
    with pytest.raises(ConfigError, match="SMS_BACKEND must be one of http, log, off, not 'sms'"):
        create_app()
    monkeypatch.setenv("SMS_BACKEND", "http")
    with pytest.raises(ConfigError, match="SMS_GATEWAY_URL and SMS_GATEWAY_SECRET"):
        create_app()
    monkeypatch.setenv("SMS_GATEWAY_URL", "https://sms.example.com/send")
    monkeypatch.setenv("SMS_GATEWAY_SECRET", secrets.token_hex(16))
    assert create_app().config["SMS_BACKEND"] == "http"
