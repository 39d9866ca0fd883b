"""Text messages through a real HTTP gateway in-process: a provider template and named parameters, signed;
later when it says later, the next channel when one refuses for good or has no address; the log adapter
never writes a token; HR write a message by hand."""

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Candidate, Outbox, PortalLink
from portal.models.outbox import LINK_PLACEHOLDER, MessageKind
from portal.services.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER
from portal.services.outbox import BY_EMAIL_FIRST, BY_SMS_FIRST, queue_message, send_due
from tests.builders import gen_candidate, gen_user, signed_in
from tests.smtp import smtp_sink

WEDNESDAY = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: due at once
SECRET = "gateway-secret"


class Gateway:
    """An SMS gateway: keeps what it took and answers as a test scripts it (``answers``: codes in turn,
    then 200; "hang" never answers)."""

    def __init__(self) -> None:
        self.answers: list[int | str] = []
        self.taken: list[tuple[dict, dict]] = []  # (headers, JSON body)
        self.attempts = 0


@contextmanager
def http_gateway():
    gateway = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            gateway.attempts += 1
            answer = gateway.answers.pop(0) if gateway.answers else 200
            if answer == "hang":
                time.sleep(3)
                return
            if answer == 200:
                gateway.taken.append((dict(self.headers), json.loads(body)))
            self.send_response(answer)
            self.end_headers()
            self.wfile.write(b'{"ok": true}' if answer == 200 else b"template not approved")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway, f"http://127.0.0.1:{server.server_address[1]}/sms"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gateway(app):
    with http_gateway() as (gateway, url):
        app.config.update(SMS_BACKEND="http", SMS_GATEWAY_URL=url, SMS_GATEWAY_SECRET=SECRET, SMS_TIMEOUT_SECONDS=1)
        yield gateway


@pytest.fixture
def sink(app):
    with smtp_sink() as (sink, port):
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        yield sink


def person(site, **fields) -> Candidate:
    fields = {"name": "候选人", "email": "c@example.com", "phone": "+8613800000001", **fields}
    return gen_candidate(site, [("passed", WEDNESDAY)], **fields)


def link_message(candidate: Candidate, channels=BY_SMS_FIRST, key="link:1") -> Outbox:
    row = queue_message(
        candidate,
        kind=MessageKind.LINK,
        key=key,
        subject="您的入职页面",
        body=f"您的入职页面：{LINK_PLACEHOLDER}",
        now=WEDNESDAY,
        hand_sent=True,
        channels=channels,
        sms_template="SMS_1234",
        sms_params={"name": candidate.name, "link": LINK_PLACEHOLDER},
    )
    db.session.commit()
    return row


def at(moment: datetime):
    return lambda: moment


def test_a_text_message_is_the_template_and_its_parameters_signed_for_the_gateway(app, client, site, gateway):
    row = link_message(person(site))
    assert send_due(clock=at(WEDNESDAY)).sent == 1
    [(headers, body)] = gateway.taken
    assert body["id"] == f"outbox-{row.id}" and body["to"] == "+8613800000001" and body["template"] == "SMS_1234"
    assert body["params"]["name"] == "候选人" and set(body) == {"id", "to", "template", "params"}
    raw = json.dumps(body, ensure_ascii=False).encode()
    expected = hmac.new(SECRET.encode(), headers[TIMESTAMP_HEADER].encode() + b"." + raw, hashlib.sha256)
    assert headers[SIGNATURE_HEADER] == f"sha256={expected.hexdigest()}"
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 60
    db.session.refresh(row)
    link = db.session.get_one(PortalLink, row.link_id)
    assert (row.status, row.channel, link.channel) == ("sent", "sms", "sms")
    token = re.search(r"/c/([A-Za-z0-9_-]+)", body["params"]["link"]).group(1)
    assert row.sms_params["link"] == LINK_PLACEHOLDER and token not in json.dumps(row.sms_params)
    assert client.get(f"/c/{token}").status_code in (302, 303)  # the link in the text opens their page


def test_the_gateway_saying_later_is_tried_again_and_a_silent_one_ends_within_its_timeout(app, site, gateway):
    row = link_message(person(site))
    gateway.answers = [503, "hang"]
    assert send_due(clock=at(WEDNESDAY)).retrying == 1
    db.session.refresh(row)
    assert (row.status, row.reason) == ("queued", "SMS gateway 503: template not approved")
    started = time.monotonic()
    assert send_due(clock=at(row.due_at)).retrying == 1
    assert time.monotonic() - started < 2.5
    db.session.refresh(row)
    assert row.status == "queued" and "timeout" in row.reason.lower()
    assert send_due(clock=at(row.due_at)).sent == 1 and len(gateway.taken) == 1
    links = db.session.scalars(sa.select(PortalLink).order_by(PortalLink.id)).all()
    assert [link.revoked_at is None for link in links] == [False, False, True]  # only the delivered one works


def test_a_refusal_for_good_goes_on_to_the_next_channel_and_its_link_is_the_only_one_that_works(
    app, site, gateway, sink
):
    row = link_message(person(site))
    gateway.answers = [400]
    assert send_due(clock=at(WEDNESDAY)).sent == 1
    db.session.refresh(row)
    assert (row.status, row.channel, len(sink.accepted), gateway.attempts) == ("sent", "email", 1, 1)
    assert row.reason == "SMS gateway 400: template not approved"  # HR still learn the number was refused
    sms_link, email_link = db.session.scalars(sa.select(PortalLink).order_by(PortalLink.id)).all()
    assert (sms_link.channel, sms_link.revoked_at is not None) == ("sms", True)
    assert (email_link.channel, email_link.revoked_at, email_link.id) == ("email", None, row.link_id)


def test_no_address_on_the_first_channel_sends_by_the_second_and_with_neither_the_row_says_why(
    app, site, gateway, sink
):
    no_email = link_message(person(site, email=None), channels=BY_EMAIL_FIRST, key="a")
    nothing = link_message(person(site, email=None, phone=None, name="无联系方式"), channels=BY_EMAIL_FIRST, key="b")
    refused = link_message(person(site, email=None, phone="+8613800000002", name="拒收"), key="c")
    gateway.answers = [200, 400]  # claimed in id order: no_email's text is taken, refused's is refused
    done = send_due(clock=at(WEDNESDAY))
    assert (done.sent, done.dropped, done.failed) == (1, 1, 1)
    for row in (no_email, nothing, refused):
        db.session.refresh(row)
    assert (no_email.status, no_email.channel) == ("sent", "sms")
    assert (nothing.status, nothing.reason) == ("dropped", "no email address; no mobile number")
    assert (refused.status, refused.reason) == ("failed", "SMS gateway 400: template not approved; no email address")


def test_a_malformed_email_address_is_refused_for_good_so_a_text_message_goes_or_the_row_fails(
    app, site, gateway, sink
):
    texted = link_message(person(site, email="not an address"), channels=BY_EMAIL_FIRST, key="a")
    unreachable = link_message(person(site, email="c@", phone=None), channels=BY_EMAIL_FIRST, key="b")
    email_only = link_message(person(site, email="c@@example.com"), channels=("email",), key="c")
    done = send_due(clock=at(WEDNESDAY))
    for row in (texted, unreachable, email_only):
        db.session.refresh(row)
    assert (done.sent, done.failed, sink.attempts) == (1, 2, 0)
    assert (texted.status, texted.channel, texted.reason) == ("sent", "sms", "not an email address")
    assert (unreachable.status, unreachable.reason) == ("failed", "not an email address; no mobile number")
    assert (email_only.status, email_only.reason) == ("failed", "not an email address")  # an admin may send again


def test_without_a_gateway_a_text_message_is_not_sent_and_the_log_adapter_never_writes_a_token(app, site, sink, caplog):
    app.config["SMS_BACKEND"] = "off"
    off = link_message(person(site, email=None), key="off")
    send_due(clock=at(WEDNESDAY))
    db.session.refresh(off)
    assert (off.status, off.reason) == ("dropped", "no SMS gateway; no email address")
    app.config["SMS_BACKEND"] = "log"
    logged = link_message(person(site, email=None, phone="+8613800000009"), key="log")
    with caplog.at_level(logging.INFO, logger="portal.services.channels"):
        send_due(clock=at(WEDNESDAY))
    db.session.refresh(logged)
    assert (logged.status, logged.channel) == ("sent", "sms")
    [record] = [r for r in caplog.records if r.name == "portal.services.channels"]
    assert "SMS_1234" in record.getMessage() and "…0009" in record.getMessage()
    assert "/c/" not in record.getMessage() and LINK_PLACEHOLDER in record.getMessage()


def test_hr_write_a_message_which_goes_by_email_with_its_own_link_and_a_refusal_keeps_the_words(
    app, client, site, sink
):
    hr = gen_user("hr", email="hr@example.com", name="Zhou")
    candidate = person(site, owner=hr, locale="en")
    signed_in(client, hr)
    url = f"/hr/candidates/{candidate.id}/messages/note"
    empty = client.post(url, data={"request": "b" * 32, "text": "   "}, headers={"Accept-Language": "en"})
    assert empty.status_code == 409 and "Write the message first." in empty.data.decode()
    long_text = "很" * 2001
    too_long = client.post(url, data={"request": "b" * 32, "text": long_text}, headers={"Accept-Language": "en"})
    assert too_long.status_code == 409 and long_text in too_long.data.decode()  # nothing typed is lost
    words = "Your training moved to Monday.\nBring your ID card."
    for _ in range(2):  # a refresh sends the form again
        answer = client.post(url, data={"request": "c" * 32, "text": words, "with_link": "1", "urgent": "1"})
        assert answer.status_code == 303
    [row] = db.session.scalars(sa.select(Outbox)).all()
    assert (row.kind, row.channels, row.priority, row.subject) == ("note", "email", 0, "A message from HR")
    assert row.body.startswith(words) and LINK_PLACEHOLDER in row.body
    send_due(clock=at(row.due_at))
    mailed = sink.messages()[0].get_body(("plain",)).get_content()
    assert mailed.startswith(words) and "/c/" in mailed
    page = client.get(f"/hr/candidates/{candidate.id}", headers={"Accept-Language": "en"}).data.decode()
    assert "A message from HR · email" in page and "a message · email · urgent" in page


def test_a_message_without_its_link_issues_none(app, client, site, sink):
    hr = gen_user("hr", email="hr@example.com", name="Zhou")
    candidate = person(site, owner=hr)
    signed_in(client, hr)
    client.post(f"/hr/candidates/{candidate.id}/messages/note", data={"request": "d" * 32, "text": "明天见"})
    send_due(clock=at(db.session.scalars(sa.select(Outbox.due_at)).one()))
    assert len(sink.accepted) == 1 and db.session.scalar(sa.select(sa.func.count()).select_from(PortalLink)) == 0
