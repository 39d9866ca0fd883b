"""Email through Flask-Mail, with its three traps handled.

1. Flask-Mail opens ``smtplib.SMTP(server, port)`` with no timeout: a server that accepts the connection and
   never answers held a sender for good. ``SmtpConnection`` passes MAIL_TIMEOUT_SECONDS.
2. It registers UTF-8 as 8-bit, unwrapped: one long Chinese paragraph is a line a strict server refuses
   ("line too long", RFC 5321's 1,000 bytes). ``Email`` sends UTF-8 parts as base64.
3. Its ``quit()`` on a dropped connection raises a second error that hides the first. ``SmtpConnection``
   closes quietly instead, so the reason kept is the SMTP error that happened.
"""

import smtplib
from email.charset import BASE64, Charset
from email.mime.text import MIMEText
from types import TracebackType

from flask import current_app
from flask_mail import Connection, Message


class Email(Message):
    """A Flask-Mail message whose text parts are UTF-8 in base64: no line is ever longer than 76 characters."""

    def _mimetext(self, text: str | None, subtype: str = "plain") -> MIMEText:
        utf8 = Charset("utf-8")
        utf8.body_encoding = BASE64
        return MIMEText(text or "", _subtype=subtype, _charset=utf8)  # type: ignore[arg-type]


class SmtpConnection(Connection):
    """One SMTP connection, for a whole batch of messages."""

    def __init__(self) -> None:
        super().__init__(current_app.extensions["mail"])
        self.timeout = current_app.config["MAIL_TIMEOUT_SECONDS"]

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        """Flask-Mail's settings as the app has them now (its own copy is taken once, at start)."""
        config = current_app.config
        server, port = config["MAIL_SERVER"], config["MAIL_PORT"]
        host: smtplib.SMTP | smtplib.SMTP_SSL
        if config["MAIL_USE_SSL"]:
            host = smtplib.SMTP_SSL(server, port, timeout=self.timeout)
        else:
            host = smtplib.SMTP(server, port, timeout=self.timeout)
        try:
            if config["MAIL_USE_TLS"]:
                host.starttls()
            if config["MAIL_USERNAME"] and config["MAIL_PASSWORD"]:
                host.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        except Exception:
            host.close()  # connected but refused (TLS, a wrong password): nothing else holds this socket
            raise
        return host

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """QUIT if the server still listens; a connection that already dropped is just closed."""
        if self.host is None:
            return
        try:
            self.host.quit()
        except (smtplib.SMTPException, OSError):
            self.host.close()
        self.host = None


def is_permanent(error: BaseException) -> bool:
    """A 5xx answer (a refused address, a refused message) will not change by trying again; a 4xx, a timeout
    or a dropped connection may."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    code = getattr(error, "smtp_code", None)
    return isinstance(code, int) and code >= 500


def describe(error: BaseException) -> str:
    """An SMTP error in one line, as the outbox keeps it: "550 5.1.1 no such user"."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
        return _line(code, text)
    if isinstance(error, smtplib.SMTPResponseException):
        return _line(error.smtp_code, error.smtp_error)
    return f"{type(error).__name__}: {error}"[:500]


def _line(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"[:500]
