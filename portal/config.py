"""Settings: the environment, then what ``create_app`` is given, then what follows from both.

Development needs nothing set: SQLite and a generated secret key live in the instance folder, and
the launcher hands an embedded Redis URL to every process. Production (``KEEPWARM_ENV=production``)
refuses to start without its secrets and services, with a weak key, or without https.
"""

import os
import secrets
import string
from datetime import timedelta
from pathlib import Path
from typing import Any

PRODUCTION_REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL")
MIN_SECRET_KEY_BITS = 256  # 32 random bytes


class ConfigError(RuntimeError):
    """The environment does not describe a runnable deployment."""


def normalise_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and route them to psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def limiter_storage_uri(redis_url: str | None) -> str:
    """The ``limits`` spelling of our Redis URL (it calls unix sockets ``redis+unix``)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
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


def secret_key_bits(key: str) -> int:
    """A generous estimate of a key's randomness: hex counts 4 bits a character, anything else 6."""
    if len(set(key)) < 8:
        return 0
    per_character = 4 if all(ch in string.hexdigits for ch in key) else 6
    return len(key) * per_character


# Every setting read from the environment, with its default; a number's or a switch's default makes
# its value read as one. Secrets and services have no default: production refuses to start without them.
DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": None,
    "DATABASE_URL": None,
    "REDIS_URL": None,
    # Where candidates' links point; a laptop's default (this PORT on 127.0.0.1) is filled in by load().
    "PUBLIC_BASE_URL": "",
    "PORT": "8000",
    # An intranet without TLS: production then starts over plain http, and says so in its log.
    "ALLOW_INSECURE_HTTP": False,
    "TIMEZONE": "Asia/Shanghai",
    # The working day in TIMEZONE ("no answer" and snoozed flags come back at its start; non-essential
    # messages go within it), the weekly rest days (ISO: 1 Monday … 7 Sunday; the work calendar adds
    # holidays and make-up working days), and the night, when nothing is sent, essential or not.
    "WORKDAY_START": "09:00",
    "WORKDAY_END": "18:00",
    "REST_DAYS": "6,7",
    "QUIET_FROM": "21:00",
    "QUIET_UNTIL": "08:00",
    "ORGANISATION_NAME": "Keepwarm Demo Retail",
    "HR_HOTLINE": "400-000-0000",
    # How many reverse proxies sit in front of the app; their X-Forwarded-For entries are trusted.
    "TRUSTED_PROXIES": 0,
    # Off when a proxy in front already compresses.
    "COMPRESS_RESPONSES": True,
    "LINK_DAYS_AFTER_START": 30,
    "LINK_DAYS_WITHOUT_START": 90,
    # A candidate cookie not renewed by a visit for this long stops working (the link still does).
    "CANDIDATE_COOKIE_DAYS": 14,
    # Engagement events older than this are deleted (PIPL: no longer than the purpose needs).
    "ENGAGEMENT_RETENTION_DAYS": 180,
    "SCAN_INTERVAL_SECONDS": 300,
    # How soon a job whose worker died is found and retried (worker.py).
    "WORKER_MAINTENANCE_SECONDS": 60,
    "WORKER_TTL_SECONDS": 75,
    # Risk rules (portal/services/scan.py).
    "RULE_LINK_NOT_OPENED_HOURS": 24,
    "RULE_QUIET_WARNING_DAYS": 3,
    "RULE_QUIET_URGENT_DAYS": 7,
    "RULE_TRAINING_NOTICE_HOURS": 48,
    # Members who have not tapped "I will be there": a warning this many days before their cohort starts,
    # urgent when this many working days are left before it (today included).
    "RULE_ATTENDANCE_DAYS": 7,
    "RULE_ATTENDANCE_URGENT_DAYS": 2,
    # A candidate's question or request waits as a task for HR (services.threads, the scan's task rules):
    # urgent once unanswered this many working hours (the work calendar's), overdue after this many hours.
    "TASK_URGENT_WORKING_HOURS": 4,
    "TASK_OVERDUE_HOURS": 48,
    # How many questions and requests one candidate may send in an hour.
    "THREAD_MESSAGES_PER_HOUR": 5,
    # How many days after a contact the next one is due, by the tier the candidate had then (services.contacts).
    "CONTACT_EVERY_DAYS_A": 14,
    "CONTACT_EVERY_DAYS_B": 7,
    "CONTACT_EVERY_DAYS_C": 3,
    "CONTACT_EVERY_DAYS_D": 2,
    # How far ahead HR may snooze a flag.
    "SNOOZE_MAX_DAYS": 30,
    # Failed look-ups only, per address (portal.throttle).
    "FAILED_TOKEN_LIMIT": "20 per 10 minutes",
    # Failed HR logins: per account and address, per address, and a growing delay per account (hr.auth).
    "HR_LOGIN_LIMIT": "10 per 10 minutes",
    "HR_LOGIN_ADDRESS_LIMIT": "30 per 10 minutes",
    "HR_LOGIN_FREE_FAILURES": 5,
    "HR_LOGIN_MAX_DELAY_SECONDS": 60,
    "HR_IDLE_MINUTES": 30,
    "HR_ABSOLUTE_HOURS": 10,
    # Flask-Mail's own settings; MAIL_TIMEOUT ends an attempt on a server that stops answering.
    "MAIL_SERVER": "127.0.0.1",
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": "",
    "MAIL_PASSWORD": "",
    "MAIL_DEFAULT_SENDER": "hr@keepwarm.invalid",
    "MAIL_TIMEOUT_SECONDS": 10,
    # Text messages: SMS_BACKEND "http" POSTs to SMS_GATEWAY_URL signed with SMS_GATEWAY_SECRET
    # (services.channels); "log" only writes them to the log (the default in development); "off" has none
    # (the default in production). SMS_TEMPLATE_LINK is the provider's template id for "your link".
    "SMS_BACKEND": "",
    "SMS_GATEWAY_URL": "",
    "SMS_GATEWAY_SECRET": "",
    "SMS_TIMEOUT_SECONDS": 10,
    "SMS_TEMPLATE_LINK": "keepwarm_link",
    # … and for "your training changed" (name, start, place, link).
    "SMS_TEMPLATE_TRAINING_CHANGE": "keepwarm_training_change",
    # … and for "HR answered you" (name, link).
    "SMS_TEMPLATE_HR_REPLY": "keepwarm_hr_reply",
    # The outbox's sender: rows claimed at a time, how long a claim lasts before another sender may take
    # the row again (its sender died), and how often the scheduler wakes it.
    "OUTBOX_BATCH": 100,
    "OUTBOX_LEASE_SECONDS": 120,
    "OUTBOX_INTERVAL_SECONDS": 30,
    # /healthz says "degraded" once a due message has waited this long (the sender is down or stuck).
    "OUTBOX_STALE_SECONDS": 600,
    # Automations: at most this many non-essential messages reach a candidate in 7 days (HR's own count too,
    # and are never held back); how often the evaluator looks for time-based triggers.
    "AUTOMATION_WEEKLY_CAP": 3,
    "AUTOMATION_INTERVAL_SECONDS": 60,
}


def _read(name: str, raw: str, default: Any) -> Any:
    """One value from the environment, as the kind its default is; a clear error for one that is not."""
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    return raw


def from_environment(env: os._Environ | dict) -> dict[str, Any]:
    """The settings ``os.environ`` (or ``env``) gives, with defaults for what it leaves out."""
    config = {
        name: default if env.get(name) is None else _read(name, env[name], default)
        for name, default in DEFAULTS.items()
    }
    config["KEEPWARM_ENV"] = "production" if env.get("KEEPWARM_ENV") == "production" else "development"
    config["PUBLIC_BASE_URL"] = config["PUBLIC_BASE_URL"].rstrip("/")
    config["HR_IDLE_TIMEOUT"] = timedelta(minutes=config.pop("HR_IDLE_MINUTES"))
    config["HR_ABSOLUTE_TIMEOUT"] = timedelta(hours=config.pop("HR_ABSOLUTE_HOURS"))
    return config


def derived_settings(config: dict[str, Any]) -> dict[str, Any]:
    """Flask and extension settings that follow from ours (cookies, CSRF, limiter, compression)."""
    secure = config["PUBLIC_BASE_URL"].startswith("https://")
    return {
        "SECURE_COOKIES": secure,
        "SESSION_COOKIE_NAME": "__Host-kw_session" if secure else "kw_session",
        "SESSION_COOKIE_SECURE": secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # HR idle/absolute timeouts are enforced server-side in portal.hr.auth.
        "PERMANENT_SESSION_LIFETIME": config["HR_ABSOLUTE_TIMEOUT"],
        # A CSRF token lives as long as the session: nothing typed is lost to a one-hour limit.
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": config["TIMEZONE"],
        # Where portal.throttle counts failures; a hung Redis costs a request half a second at most.
        "RATELIMIT_STORAGE_URI": limiter_storage_uri(config["REDIS_URL"]),
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        "COMPRESS_REGISTER": config["COMPRESS_RESPONSES"],
        "COMPRESS_MIMETYPES": [
            "text/html",
            "text/css",
            "text/plain",
            "application/javascript",
            "text/javascript",
            "text/calendar",
            "image/svg+xml",
        ],
        "COMPRESS_ALGORITHM": ["br", "gzip"],
        # Static files are streamed; Flask-Compress's streaming default leaves out gzip.
        "COMPRESS_ALGORITHM_STREAMING": ["br", "gzip"],
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # Templates link static files with their content hash (portal.templating.static_url).
        "SEND_FILE_MAX_AGE_DEFAULT": 365 * 24 * 3600,
    }


def check_production(config: dict[str, Any]) -> None:
    """Refuse to run production without its services, with a guessable key, or over plain http."""
    missing = [name for name in PRODUCTION_REQUIRED if not config.get(name)]
    if missing:
        raise ConfigError("KEEPWARM_ENV=production needs " + ", ".join(missing))
    if secret_key_bits(config["SECRET_KEY"]) < MIN_SECRET_KEY_BITS:
        raise ConfigError(
            "SECRET_KEY must hold at least 32 random bytes; make one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if not config["PUBLIC_BASE_URL"].startswith("https://") and not config["ALLOW_INSECURE_HTTP"]:
        raise ConfigError(
            "PUBLIC_BASE_URL must be https:// in production (cookies are Secure and HSTS is on "
            "only then); set ALLOW_INSECURE_HTTP=1 for an intranet without TLS"
        )


SMS_BACKENDS = ("http", "log", "off")


def check_sms(config: dict[str, Any]) -> None:
    """SMS_BACKEND unset means "log" on a laptop and "off" in production; "http" needs its gateway."""
    if not config["SMS_BACKEND"]:
        config["SMS_BACKEND"] = "off" if config["KEEPWARM_ENV"] == "production" else "log"
    if config["SMS_BACKEND"] not in SMS_BACKENDS:
        raise ConfigError(f"SMS_BACKEND must be one of {', '.join(SMS_BACKENDS)}, not {config['SMS_BACKEND']!r}")
    if config["SMS_BACKEND"] == "http" and not (config["SMS_GATEWAY_URL"] and config["SMS_GATEWAY_SECRET"]):
        raise ConfigError("SMS_BACKEND=http needs SMS_GATEWAY_URL and SMS_GATEWAY_SECRET")


def load(instance_path: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole configuration: environment, then ``given`` (which wins), then what follows from them."""
    given = dict(given or {})
    config = from_environment(os.environ)
    config.update(given)
    if config["KEEPWARM_ENV"] == "production":
        check_production(config)
    check_sms(config)
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = instance_secret_key(instance_path)
    if not config["PUBLIC_BASE_URL"]:
        config["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{config['PORT']}"
    if "SQLALCHEMY_DATABASE_URI" not in given:
        database_url = config["DATABASE_URL"] or "sqlite:///" + str(Path(instance_path) / "keepwarm.sqlite")
        config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(database_url)
    config.update({key: value for key, value in derived_settings(config).items() if key not in given})
    return config
