"""The ways a message reaches a candidate, behind one interface: ``missing`` says why a candidate cannot be
reached this way ("" when they can), ``send`` delivers one message or raises ``Undelivered``.

Email goes through Flask-Mail (services.mailer). A text message goes through an SMS gateway: Chinese
providers accept only pre-approved templates, so an SMS is a provider template id and named parameters,
never free text. Adding WeChat or DingTalk later is one more class here and its name in ``open_channels``.
"""

import hashlib
import hmac
import json
import logging
import re
import smtplib
import time
import urllib.error
import urllib.request
from html import escape
from typing import Protocol

from email_validator import EmailNotValidError, validate_email
from flask import current_app

from portal.models import Candidate
from portal.models.candidates import Channel
from portal.models.outbox import LINK_PLACEHOLDER, Outbox
from portal.services.mailer import Email, SmtpConnection, describe, is_permanent

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Keepwarm-Signature"  # "sha256=<hex HMAC of timestamp.body>" with SMS_GATEWAY_SECRET
TIMESTAMP_HEADER = "X-Keepwarm-Timestamp"  # seconds since the epoch; a gateway refuses old ones (replays)


class Undelivered(Exception):
    """The channel did not deliver. ``permanent``: trying again will not help (the next channel may);
    ``counted``: the attempt was made (False when the channel was already known to be down)."""

    def __init__(self, reason: str, *, permanent: bool, counted: bool = True) -> None:
        super().__init__(reason)
        self.reason, self.permanent, self.counted = reason, permanent, counted


class MessageChannel(Protocol):
    name: str

    def missing(self, candidate: Candidate) -> str: ...

    def send(self, row: Outbox, candidate: Candidate, link_url: str | None) -> None: ...

    def close(self) -> None: ...


def with_link(text: str, link_url: str | None) -> str:
    return text.replace(LINK_PLACEHOLDER, link_url) if link_url else text


class EmailChannel:
    """One SMTP connection for a whole batch, opened at the first email. Once the server cannot be reached,
    refuses the login or drops the connection, the batch's other emails wait for the next run without trying."""

    name: str = Channel.EMAIL

    def __init__(self) -> None:
        self.connection = SmtpConnection()
        self.down = ""

    def missing(self, candidate: Candidate) -> str:
        return "" if candidate.email else "no email address"

    def send(self, row: Outbox, candidate: Candidate, link_url: str | None) -> None:
        if not _is_email_address(str(candidate.email)):  # no server would take it, now or later
            raise Undelivered("not an email address", permanent=True)
        if self.down:
            raise Undelivered(self.down, permanent=False, counted=False)
        if self.connection.host is None:
            self._connect()
        body = with_link(row.body, link_url)
        message = Email(subject=row.subject, recipients=[str(candidate.email)], body=body, html=as_html(body))
        message.msgId = f"<outbox-{row.id}@{_domain()}>"  # the same on every attempt: a repeat is recognisable
        try:
            self.connection.send(message)
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as error:  # 4xx: later; 5xx: never
            raise Undelivered(describe(error), permanent=is_permanent(error)) from error
        except OSError as error:  # the connection dropped (smtplib's other errors are OSErrors too)
            raise self._lost(error) from error

    def _connect(self) -> None:
        """Open the batch's connection. Any failure is the connection's, not the message's: a login refused
        with a 5xx (a wrong MAIL_PASSWORD) would otherwise fail every message of the batch for good."""
        try:
            self.connection.host = self.connection.configure_host()
        except OSError as error:  # unreachable, TLS refused, login refused (SMTPException is an OSError)
            raise self._lost(error) from error

    def _lost(self, error: BaseException) -> Undelivered:
        """The connection is down for the rest of the batch; returns what to raise for this message."""
        self.down = describe(error)
        self.connection.close()
        return Undelivered(self.down, permanent=False)

    def close(self) -> None:
        self.connection.close()


def _is_email_address(text: str) -> bool:
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


class SmsChannel:
    """A text message: the row's provider template and parameters, through the configured gateway."""

    name: str = Channel.SMS

    def __init__(self, gateway: "SmsGateway") -> None:
        self.gateway = gateway

    def missing(self, candidate: Candidate) -> str:
        if not self.gateway.ready():
            return "no SMS gateway"
        return "" if candidate.phone else "no mobile number"

    def send(self, row: Outbox, candidate: Candidate, link_url: str | None) -> None:
        if not row.sms_template:
            raise Undelivered("no SMS template for this message", permanent=True)
        params = {name: with_link(str(value), link_url) for name, value in row.sms_params.items()}
        self.gateway.send(
            message_id=f"outbox-{row.id}", to=str(candidate.phone), template=row.sms_template, params=params
        )

    def close(self) -> None:
        pass


class SmsGateway(Protocol):
    def ready(self) -> bool: ...

    def send(self, *, message_id: str, to: str, template: str, params: dict[str, str]) -> None: ...


class HttpSmsGateway:
    """POSTs {"id", "to", "template", "params"} as JSON to SMS_GATEWAY_URL, signed with SMS_GATEWAY_SECRET.

    The gateway (a small service of the organisation's, or a provider's webhook) answers 2xx when it took the
    message. 429 and 5xx, a timeout or no connection are temporary; any other answer is permanent, and its
    first words are kept as the reason. ``id`` is the same on every attempt, so the gateway can drop a repeat.
    """

    def __init__(self, url: str, secret: str, timeout: float) -> None:
        self.url, self.secret, self.timeout = url, secret.encode(), timeout

    def ready(self) -> bool:
        return bool(self.url)

    def send(self, *, message_id: str, to: str, template: str, params: dict[str, str]) -> None:
        body = json.dumps(
            {"id": message_id, "to": to, "template": template, "params": params}, ensure_ascii=False
        ).encode()
        timestamp = str(int(time.time()))
        signature = hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: f"sha256={signature}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read(1024)
        except urllib.error.HTTPError as error:
            answer = error.read(200).decode("utf-8", "replace").strip()
            reason = f"SMS gateway {error.code}: {answer or error.reason}"[:500]
            raise Undelivered(reason, permanent=error.code != 429 and error.code < 500) from error
        except (urllib.error.URLError, OSError) as error:  # refused, unreachable, timed out
            cause = getattr(error, "reason", error)
            raise Undelivered(f"SMS gateway: {type(cause).__name__}: {cause}"[:500], permanent=False) from error


class LogSmsGateway:
    """For a laptop: a text message is written to the log, its link left as the placeholder (no token is
    ever logged), and counts as sent."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def ready(self) -> bool:
        return self.enabled

    def send(self, *, message_id: str, to: str, template: str, params: dict[str, str]) -> None:
        shown = {name: _without_token(value) for name, value in params.items()}
        log.info("SMS %s to …%s: template %s %s", message_id, to[-4:], template, shown)


def _without_token(value: str) -> str:
    base = current_app.config["PUBLIC_BASE_URL"]
    words = [LINK_PLACEHOLDER if word.startswith(base) else word for word in value.split(" ")]
    return " ".join(words)


def sms_available() -> bool:
    """Whether text messages can go at all (SMS_BACKEND is not "off")."""
    return current_app.config["SMS_BACKEND"] != "off"


def open_channels() -> dict[str, MessageChannel]:
    """The channels a batch sends through, as configured now (SMS_BACKEND: http, log or off)."""
    config = current_app.config
    backend = config["SMS_BACKEND"]
    gateway: SmsGateway
    if backend == "http":
        gateway = HttpSmsGateway(config["SMS_GATEWAY_URL"], config["SMS_GATEWAY_SECRET"], config["SMS_TIMEOUT_SECONDS"])
    else:
        gateway = LogSmsGateway(enabled=backend == "log")
    return {Channel.EMAIL: EmailChannel(), Channel.SMS: SmsChannel(gateway)}


# A link ends before a space, a quote, or punctuation that closes a sentence (Chinese or Latin).
LINK = re.compile(r"https?://[^\s<>\"'，。；：！？（）]*[^\s<>\"'，。；：！？（）.,;:!?)]")


def as_html(text: str) -> str:
    """The plain text as simple HTML: paragraphs, line breaks, and links clickable wherever they stand (phone
    mail apps, WeChat's mail view)."""
    paragraphs = []
    for paragraph in text.replace("\r\n", "\n").split("\n\n"):
        escaped = LINK.sub(lambda link: f'<a href="{link[0]}">{link[0]}</a>', escape(paragraph, quote=False))
        paragraphs.append(f"<p>{escaped.replace(chr(10), '<br>' + chr(10))}</p>")
    return (
        '<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f'</head><body style="font-size:16px;line-height:1.5">{"".join(paragraphs)}</body></html>'
    )


def _domain() -> str:
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    address = sender[1] if isinstance(sender, tuple | list) else sender
    return address.rsplit("@", 1)[-1].strip(">") or "keepwarm"
