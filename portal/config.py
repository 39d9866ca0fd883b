"""Settings read from the environment.

Development needs nothing set: SQLite and a generated secret key live in the instance
folder, and the launcher hands an embedded Redis URL to every process. Production
(``KEEPWARM_ENV=production``) refuses to start without its secrets and services.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

PRODUCTION_REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable deployment."""


def normalise_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and route them to psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def limiter_storage_uri(redis_url: str | None) -> str:
    """Flask-Limiter's spelling of our Redis URL (``limits`` calls unix sockets ``redis+unix``)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


def instance_secret_key(instance_path: str) -> str:
    """Return the development secret key, generating it once so every process shares it."""
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def from_environment(instance_path: str) -> dict:
    """Build the configuration mapping for ``create_app`` from ``os.environ``."""
    env = os.environ
    production = env.get("KEEPWARM_ENV") == "production"
    if production:
        missing = [name for name in PRODUCTION_REQUIRED if not env.get(name)]
        if missing:
            raise ConfigError("KEEPWARM_ENV=production needs " + ", ".join(missing))

    database_url = env.get("DATABASE_URL") or "sqlite:///" + str(Path(instance_path) / "keepwarm.sqlite")
    public_base_url = env.get("PUBLIC_BASE_URL", "http://127.0.0.1:" + env.get("PORT", "8000")).rstrip("/")
    secure_cookies = public_base_url.startswith("https://")

    return {
        "KEEPWARM_ENV": "production" if production else "development",
        "SECRET_KEY": env.get("SECRET_KEY") or instance_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "REDIS_URL": env.get("REDIS_URL"),
        "PUBLIC_BASE_URL": public_base_url,
        "TIMEZONE": env.get("TIMEZONE", "Asia/Shanghai"),
        "ORGANISATION_NAME": env.get("ORGANISATION_NAME", "Keepwarm Demo Retail"),
        "HR_HOTLINE": env.get("HR_HOTLINE", "400-000-0000"),
        # How many reverse proxies sit in front of the app; their X-Forwarded-For entries are trusted.
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0")),
        # Off when a proxy in front already compresses.
        "COMPRESS_RESPONSES": _bool("COMPRESS_RESPONSES", True),
        "SECURE_COOKIES": secure_cookies,
        "LINK_DAYS_AFTER_START": int(env.get("LINK_DAYS_AFTER_START", "30")),
        "LINK_DAYS_WITHOUT_START": int(env.get("LINK_DAYS_WITHOUT_START", "90")),
        # Engagement events older than this are deleted (PIPL: no longer than the purpose needs).
        "ENGAGEMENT_RETENTION_DAYS": int(env.get("ENGAGEMENT_RETENTION_DAYS", "180")),
        "SCAN_INTERVAL_SECONDS": int(env.get("SCAN_INTERVAL_SECONDS", "300")),
        # How soon a job whose worker died is found and retried (worker.py).
        "WORKER_MAINTENANCE_SECONDS": int(env.get("WORKER_MAINTENANCE_SECONDS", "60")),
        "WORKER_TTL_SECONDS": int(env.get("WORKER_TTL_SECONDS", "75")),
        # Risk rules (portal/services/scan.py).
        "RULE_LINK_NOT_OPENED_HOURS": int(env.get("RULE_LINK_NOT_OPENED_HOURS", "24")),
        "RULE_QUIET_WARNING_DAYS": int(env.get("RULE_QUIET_WARNING_DAYS", "3")),
        "RULE_QUIET_URGENT_DAYS": int(env.get("RULE_QUIET_URGENT_DAYS", "7")),
        "RULE_TRAINING_NOTICE_HOURS": int(env.get("RULE_TRAINING_NOTICE_HOURS", "48")),
        "FAILED_TOKEN_LIMIT": env.get("FAILED_TOKEN_LIMIT", "20 per 10 minutes"),
        "HR_LOGIN_LIMIT": env.get("HR_LOGIN_LIMIT", "10 per 10 minutes"),
        "HR_IDLE_TIMEOUT": timedelta(minutes=int(env.get("HR_IDLE_MINUTES", "30"))),
        "HR_ABSOLUTE_TIMEOUT": timedelta(hours=int(env.get("HR_ABSOLUTE_HOURS", "10"))),
        "MAIL_SERVER": env.get("MAIL_SERVER", "127.0.0.1"),
        "MAIL_PORT": int(env.get("MAIL_PORT", "25")),
        "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER", "hr@keepwarm.invalid"),
    }
