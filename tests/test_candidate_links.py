"""The link as a secret: entropy, hash-only storage, rotation, expiry, identical 404s, scanners, rate limits."""

import base64
import logging
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import EngagementEvent, PortalLink, utcnow
from portal.redaction import redact
from portal.services.links import find_active_link, generate_token, hash_token
from tests.builders import gen_candidate, gen_cohort, gen_link, gen_user, log_in, open_page

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def test_tokens_are_256_bit_and_unique():
    tokens = {generate_token() for _ in range(10_000)}
    assert len(tokens) == 10_000
    for token in list(tokens)[:500]:
        assert TOKEN_RE.match(token)
        assert len(base64.urlsafe_b64decode(token + "=")) == 32


def test_only_the_hash_is_stored(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    token = gen_link(candidate)
    dump = []
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                dump.extend(str(value) for value in row)
    assert not any(token in value for value in dump)
    assert hash_token(token) in dump
    # The stored hash is not itself a working token.
    assert find_active_link(hash_token(token), utcnow()) is None


def test_new_link_from_hr_revokes_earlier_ones(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    old = gen_link(candidate)
    new = gen_link(candidate, revoke_others=True)
    assert client.get(f"/c/{old}").status_code == 404
    assert client.get(f"/c/{new}").status_code == 303


def test_several_deliveries_keep_several_active_links(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    first, second = gen_link(candidate, "email"), gen_link(candidate, "sms")
    assert client.get(f"/c/{first}").status_code == 303
    assert client.get(f"/c/{second}").status_code == 303


def test_expiry_without_start_date_is_90_days_after_issue(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    issued = utcnow() - timedelta(days=91)
    token = gen_link(candidate, now=issued)
    link = db.session.scalars(sa.select(PortalLink)).one()
    assert link.expires_at == issued + timedelta(days=90)
    assert client.get(f"/c/{token}").status_code == 404
    fresh = gen_link(candidate, now=utcnow() - timedelta(days=89))
    assert client.get(f"/c/{fresh}").status_code == 303


def test_expiry_is_30_days_after_the_start_date(app, client, site):
    from zoneinfo import ZoneInfo

    today = utcnow().astimezone(ZoneInfo(app.config["TIMEZONE"])).date()  # the organisation's day
    cohort = gen_cohort(starts_on=today - timedelta(days=31))
    candidate = gen_candidate(site, [("passed", utcnow())], cohort=cohort)
    assert client.get(f"/c/{gen_link(candidate)}").status_code == 404
    cohort.starts_on = today - timedelta(days=29)
    db.session.commit()
    assert client.get(f"/c/{gen_link(candidate)}").status_code == 303


def test_expiry_counts_from_the_start_day_where_the_organisation_is(app, site):
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from portal.services.links import link_expiry

    expires = link_expiry(utcnow(), date(2027, 1, 4), None)
    assert expires == datetime(2027, 2, 3, tzinfo=ZoneInfo("Asia/Shanghai"))  # 30 days after 00:00 in Shanghai
    assert expires.utcoffset() == timedelta(0)  # stored as UTC: 2027-02-02 16:00


def test_expiry_after_exit(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())], left_at=utcnow() - timedelta(days=31))
    assert client.get(f"/c/{gen_link(candidate)}").status_code == 404


def test_cookie_stops_working_when_the_link_is_revoked(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    assert open_page(client, candidate).status_code == 200
    gen_link(candidate, revoke_others=True)
    assert client.get("/me").status_code == 404


def _without_nonces(body: bytes) -> bytes:
    return re.sub(rb'name="csrf_token" value="[^"]*"', b"", body)


def test_unknown_revoked_expired_and_cookieless_get_the_same_page(app, make_app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    revoked = gen_link(candidate)
    gen_link(candidate, revoke_others=True)
    expired = gen_link(candidate, now=utcnow() - timedelta(days=120))
    responses = []
    for path in (f"/c/{generate_token()}", f"/c/{revoked}", f"/c/{expired}", "/me", "/c/short"):
        response = app.test_client().get(path)
        responses.append(
            (
                response.status_code,
                _without_nonces(response.data),
                sorted(k for k in response.headers.keys() if k != "Date"),
            )
        )
    assert responses[0][0] == 404
    assert all(r == responses[0] for r in responses), "invalid-link answers differ"
    assert b"not valid" in app.test_client().get("/me", headers={"Accept-Language": "en"}).data


def test_head_and_scanners_never_count_as_views(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    token = gen_link(candidate)
    assert client.head(f"/c/{token}").status_code == 200
    scanner = app.test_client()
    assert (
        scanner.get(f"/c/{token}", headers={"User-Agent": "Mozilla/5.0 (compatible; SafeLinks scanner)"}).status_code
        == 303
    )
    # A preview bot that does follow the redirect with the cookie is recorded as a prefetch too.
    assert scanner.get("/me", headers={"User-Agent": "facebookexternalhit/1.1"}).status_code == 200
    kinds = db.session.scalars(sa.select(EngagementEvent.kind)).all()
    assert kinds and set(kinds) == {"prefetch"}
    db.session.refresh(candidate)
    assert candidate.last_seen_at is None
    assert db.session.scalars(sa.select(PortalLink.first_opened_at)).one() is None


def test_a_real_open_counts_once_and_marks_the_link_opened(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    phone = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile MicroMessenger"}
    assert open_page(client, candidate, **phone).status_code == 200
    views = db.session.scalars(sa.select(EngagementEvent).where(EngagementEvent.kind == "view")).all()
    assert [(v.target, v.device) for v in views] == [("page", "mobile")]
    db.session.refresh(candidate)
    assert candidate.last_seen_at is not None
    assert db.session.scalars(sa.select(PortalLink.first_opened_at)).one() is not None


def test_redirect_carries_no_token_and_cookie_is_scoped(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    token = gen_link(candidate)
    response = client.get(f"/c/{token}")
    assert response.headers["Location"] == "/me"
    cookie = response.headers["Set-Cookie"]
    assert token not in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Max-Age=" in cookie
    assert "Secure" not in cookie  # http://localhost demo must work in a browser


def test_cookies_are_secure_with_an_https_public_url(make_app):
    app = make_app(PUBLIC_BASE_URL="https://jobs.example.com", SECURE_COOKIES=True)
    with app.app_context():
        from tests.builders import gen_site

        stages = gen_site()
        candidate = gen_candidate(stages, [("passed", utcnow())])
        response = app.test_client().get(f"/c/{gen_link(candidate)}", base_url="https://jobs.example.com")
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("__Host-kw_cand=") and "Secure" in cookie


def test_candidate_cookie_grants_no_hr_access_and_hr_session_grants_no_candidate_page(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    open_page(client, candidate)
    assert client.get("/hr/").status_code == 302  # to the login page
    hr_client = app.test_client()
    gen_user("admin", email="boss@example.com")
    log_in(hr_client, "boss@example.com")
    assert hr_client.get("/hr/").status_code == 200
    assert hr_client.get("/me").status_code == 404


def test_forged_cookie_is_refused(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    open_page(client, candidate)
    client.set_cookie("kw_cand", "1.forged-signature")
    assert client.get("/me").status_code == 404


def test_rate_limit_counts_only_failed_lookups(make_app):
    app = make_app(FAILED_TOKEN_LIMIT="5 per 10 minutes")
    with app.app_context():
        from tests.builders import gen_site

        stages = gen_site()
        candidate = gen_candidate(stages, [("passed", utcnow())])
        token = gen_link(candidate)
        client = app.test_client()
        for _ in range(20):  # successes are free
            assert client.get(f"/c/{token}").status_code == 303
        statuses = [client.get(f"/c/{generate_token()}").status_code for _ in range(7)]
        assert statuses[:5] == [404] * 5
        assert statuses[5:] == [429, 429]
        other_client = app.test_client()
        assert other_client.get(f"/c/{token}", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 303


def test_rate_limit_uses_the_trusted_proxy_address_only(make_app):
    app = make_app(FAILED_TOKEN_LIMIT="2 per 10 minutes", TRUSTED_PROXIES=1)
    client = app.test_client()
    for _ in range(2):
        client.get(f"/c/{generate_token()}", headers={"X-Forwarded-For": "203.0.113.7"})
    # The same client cannot escape by inventing a new X-Forwarded-For... behind one proxy the proxy sets it.
    assert client.get(f"/c/{generate_token()}", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    assert client.get(f"/c/{generate_token()}", headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 404


def test_rate_limit_without_proxy_ignores_forwarded_headers(make_app):
    app = make_app(FAILED_TOKEN_LIMIT="2 per 10 minutes")
    client = app.test_client()
    statuses = [
        client.get(f"/c/{generate_token()}", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
        for i in range(3)
    ]
    assert statuses == [404, 404, 429]


def test_a_hung_or_missing_redis_does_not_break_the_token_page(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    with app.app_context():
        from tests.builders import gen_site

        stages = gen_site()
        candidate = gen_candidate(stages, [("passed", utcnow())])
        assert open_page(app.test_client(), candidate).status_code == 200


def test_no_token_in_access_logs():
    token = generate_token()
    line = f'127.0.0.1 "GET /c/{token} HTTP/1.1" 303 "https://mail.example/?u=/c/{token}"'
    redacted = redact(line)
    assert token not in redacted
    assert "/c/#" + hash_token(token)[:8] in redacted


def test_no_token_in_app_logs(app, client, site, caplog):
    caplog.set_level(logging.DEBUG)
    candidate = gen_candidate(site, [("passed", utcnow())], email="wang@example.com")
    token = gen_link(candidate)
    client.get(f"/c/{token}")
    client.get(f"/c/{generate_token()}")
    client.get("/me")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert token not in text
    assert "wang@example.com" not in text


def test_gunicorn_logger_redacts(tmp_path):
    from gunicorn.config import Config

    from portal.weblog import RedactingLogger

    token = generate_token()
    log_file = tmp_path / "access.log"
    config = Config()
    config.set("accesslog", str(log_file))
    logger = RedactingLogger(config)

    class Response:
        status = "303 See Other"
        status_code = 303
        sent = 0
        headers = []
        response_length = 0

    class Request:
        headers = [("REFERER", f"https://x/c/{token}")]

    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/c/{token}",
        "PATH_INFO": f"/c/{token}",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://x/c/{token}",
    }
    from datetime import timedelta as td

    logger.access(Response(), Request(), environ, td(milliseconds=3))
    for handler in logger.access_log.handlers:
        handler.flush()
    written = log_file.read_text()
    assert "/c/#" in written and token not in written


@pytest.mark.parametrize("method", ["post"])
def test_candidate_posts_need_csrf(make_app, method):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        from portal.models import ChecklistItem
        from tests.builders import gen_site

        stages = gen_site()
        candidate = gen_candidate(stages, [("passed", utcnow())])
        client = app.test_client()
        page = open_page(client, candidate)
        item_id = db.session.scalars(sa.select(ChecklistItem.id)).first()
        assert client.post(f"/me/checklist/{item_id}", data={"done": "1"}).status_code == 400
        csrf = re.search(rb'X-CSRFToken": "([^"]+)"', page.data).group(1).decode()
        ok = client.post(
            f"/me/checklist/{item_id}", data={"done": "1"}, headers={"X-CSRFToken": csrf, "HX-Request": "true"}
        )
        assert ok.status_code == 200
