"""The requests an attacker or a link scanner sends: each answered without a 500, a leak or a lock-out."""

import logging
from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from portal.candidate import identity
from portal.extensions import db
from portal.models import Cohort, utcnow
from portal.redaction import redact
from portal.services.links import generate_token, hash_token
from tests.builders import gen_candidate, gen_cohort, gen_flag, gen_link, gen_user, open_page, signed_in

BEYOND_64_BITS = "99999999999999999999"
BEYOND_32_BITS = str(2**31)


@pytest.mark.parametrize("huge", [BEYOND_64_BITS, BEYOND_32_BITS])
def test_ids_beyond_the_database_range_are_unknown_ids_not_errors(app, site, huge):
    hr = gen_user("admin", email="admin@example.com")
    candidate = gen_candidate(site, [("passed", utcnow())], owner=hr)
    gen_flag(candidate)
    staff = signed_in(app.test_client(), hr)
    for action in ("claim", "snooze", "resolve"):
        assert staff.post(f"/hr/flags/{huge}/{action}").status_code == 404, action
    for action in ("tier", "link", "next-stage", "contacts", "profile", "notes"):
        assert staff.post(f"/hr/candidates/{huge}/{action}", data={"tier": "A"}).status_code == 404, action
    # Query-string and form ids out of range are ignored like any other nonsense.
    assert staff.get(f"/hr/queue?cohort={huge}&owner={huge}&page={huge}").status_code == 200
    assert staff.get(f"/hr/?page={huge}").status_code == 200
    moved_on = staff.post(
        f"/hr/candidates/{candidate.id}/next-stage", data={"from_stage": huge}, headers={"HX-Request": "1"}
    )
    assert moved_on.status_code == 409
    phone = app.test_client()
    open_page(phone, candidate)
    assert phone.get(f"/me/stories/{huge}").status_code == 404
    assert phone.post(f"/me/checklist/{huge}", data={"done": "1"}).status_code == 404
    assert staff.get(f"/admin/reasons/{huge}").status_code == 404


@pytest.mark.parametrize(
    "variant",
    [
        lambda t: f"/c/{t}",
        lambda t: f"/c/%{ord(t[0]):02x}{t[1:]}",  # the app decodes it to the same token
        lambda t: f"/c/{t[:10]}%{ord(t[10]):02X}{t[11:]}",
        lambda t: f"/c%2F{t}",
        lambda t: f"/c%2f{t}",
        lambda t: f"//c//{t}",
        lambda t: "/c/" + "".join(f"%{ord(ch):02x}" for ch in t),
    ],
)
def test_access_log_redacts_tokens_however_they_are_encoded(variant):
    token = generate_token()
    path = variant(token)
    line = f'127.0.0.1 "GET {path} HTTP/1.1" 303 "https://mail.example/?u={quote(path, safe="")}"'
    redacted = redact(line)
    assert token not in redacted and token[5:30] not in redacted
    assert redacted.count("#" + hash_token(token)[:8]) == 2
    assert "\n" not in redact("GET /c/%0A%0Dx HTTP/1.1")  # nothing is decoded into the log line


def test_access_log_redacts_a_token_wherever_it_stands():
    token, other = generate_token(), generate_token()
    for line in (f"GET /c/%00{token} HTTP/1.1", f"GET /c/{other}?a={token} HTTP/1.1", f"GET /x/{token}"):
        redacted = redact(line)
        assert token not in redacted and other not in redacted, redacted
        assert "#" + hash_token(token)[:8] in redacted


def test_an_error_on_a_token_url_logs_no_token(make_app, monkeypatch, caplog):
    app = make_app(TESTING=False)
    monkeypatch.setattr("portal.candidate.views.find_active_link", lambda *args: 1 / 0)
    token = generate_token()
    with caplog.at_level(logging.ERROR):
        assert app.test_client().get(f"/c/{token}").status_code == 500
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Exception on /c/#" in logged and token not in logged


def test_encoded_token_variants_really_reach_the_link(app, site):
    """Why the log must decode: the app accepts a token with a character percent-encoded."""
    candidate = gen_candidate(site, [("passed", utcnow())])
    token = gen_link(candidate)
    assert app.test_client().get(f"/c/%{ord(token[0]):02x}{token[1:]}").status_code == 303


def test_a_map_link_must_be_http_when_saved(app):
    with pytest.raises(ValueError, match="http"):
        Cohort(name="x", map_url="javascript:alert(document.cookie)")
    db.session.rollback()
    with pytest.raises(ValueError):
        Cohort(name="x", map_url="data:text/html,<script>alert(1)</script>")
    assert Cohort(name="x", map_url="https://uri.amap.com/search?keyword=x").map_url.startswith("https://")


def test_a_stored_javascript_map_link_is_not_rendered(app, site):
    cohort = gen_cohort()
    db.session.execute(
        sa.update(Cohort.__table__).where(Cohort.__table__.c.id == cohort.id).values(map_url="JavaScript:alert(1)")
    )  # an older row, written before the check
    db.session.commit()
    candidate = gen_candidate(site, [("passed", utcnow())], cohort=cohort)
    html = open_page(app.test_client(), candidate).data.decode()
    assert cohort.place_zh in html
    assert "javascript:" not in html.lower()


def test_a_line_break_in_a_cohort_name_neither_breaks_the_calendar_nor_is_saved(app, site):
    assert gen_cohort(name="December\r\ncohort").name == "December cohort"
    cohort = gen_cohort()
    db.session.execute(
        sa.update(Cohort.__table__).where(Cohort.__table__.c.id == cohort.id).values(name="December\ncohort\r\nB")
    )  # an older row
    db.session.commit()
    client = app.test_client()
    open_page(client, gen_candidate(site, [("passed", utcnow())], cohort=cohort))
    response = client.get("/me/calendar.ics")
    assert response.status_code == 200
    summaries = {str(event["SUMMARY"]) for event in Calendar.from_ical(response.data).walk("VEVENT")}
    assert "December cohort B" in summaries and "December cohort B: 第 1 天" in summaries


def test_a_valid_link_goes_through_after_the_address_used_up_its_failures(make_app):
    """Many phones share one carrier address: others' typos must not lock out a candidate."""
    app = make_app(FAILED_TOKEN_LIMIT="3 per 10 minutes")
    with app.app_context():
        from tests.builders import gen_site

        candidate = gen_candidate(gen_site(), [("passed", utcnow())])
        token = gen_link(candidate)
    client = app.test_client()
    assert [client.get(f"/c/{generate_token()}").status_code for _ in range(4)] == [404, 404, 404, 429]
    assert client.get(f"/c/{token}").status_code == 303
    assert client.get("/me").status_code == 200
    assert client.get(f"/c/{generate_token()}").status_code == 429


def _cookie_issued(app, candidate_link_id: int, issued_at) -> str:
    with app.test_request_context():
        return identity._serializer().dumps([candidate_link_id, int(issued_at.timestamp())])


def test_a_copied_candidate_cookie_expires_on_its_own_and_visits_renew_it(app, site, now):
    candidate = gen_candidate(site, [("passed", utcnow())])
    client = app.test_client()
    open_page(client, candidate)
    link_id = db.session.scalar(sa.text("SELECT id FROM portal_link"))
    max_age = timedelta(days=app.config["CANDIDATE_COOKIE_DAYS"])
    name = identity.cookie_name()

    def visit(issued_at):
        visitor = app.test_client()
        visitor.set_cookie(name, _cookie_issued(app, link_id, issued_at))
        return visitor.get("/me")

    assert visit(now - max_age - timedelta(minutes=1)).status_code == 404  # stolen long ago: dead
    assert visit(now + timedelta(hours=1)).status_code == 404  # from the future: forged clock
    fresh = visit(now - timedelta(hours=1))
    assert fresh.status_code == 200
    assert not [c for c in fresh.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]  # young: left alone
    renewed = visit(now - timedelta(days=2))
    [cookie] = [c for c in renewed.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert renewed.status_code == 200 and f"Max-Age={int(max_age.total_seconds())}" in cookie
    # Signed, yet out of any range: refused like a forgery, never an overflow.
    for link, issued in ((2**31, now), (10**20, now), (link_id, 10**20), (link_id, -(10**20))):
        with app.test_request_context():
            odd = identity._serializer().dumps([link, issued if isinstance(issued, int) else int(issued.timestamp())])
        visitor = app.test_client()
        visitor.set_cookie(name, odd)
        assert visitor.get("/me").status_code == 404, (link, issued)
    # A cookie in the old format (a bare link id, no time) is refused.
    with app.test_request_context():
        old_format = identity._serializer().dumps(link_id)
    visitor = app.test_client()
    visitor.set_cookie(name, old_format)
    assert visitor.get("/me").status_code == 404


def test_snoozing_is_capped(app, site):
    hr = gen_user("hr", email="hr@example.com")
    flag = gen_flag(gen_candidate(site, [("passed", utcnow())], owner=hr))
    staff = signed_in(app.test_client(), hr)
    far = staff.post(f"/hr/flags/{flag.id}/snooze", data={"until": "9999-12-31"}, headers={"HX-Request": "1"})
    assert far.status_code == 422 and b"30" in far.data
    db.session.refresh(flag)
    assert flag.snoozed_until is None
    soon = (utcnow() + timedelta(days=29)).date().isoformat()
    assert staff.post(f"/hr/flags/{flag.id}/snooze", data={"until": soon}).status_code == 303


def test_a_database_that_was_never_migrated_answers_503_and_says_once_what_to_run(
    make_app, database_url, tmp_path, caplog
):
    url = database_url if database_url.startswith("postgresql") else None
    if url:  # PostgreSQL: an empty schema of its own
        with sa.create_engine(url).begin() as connection:
            connection.execute(sa.text("DROP SCHEMA IF EXISTS kw_unmigrated CASCADE; CREATE SCHEMA kw_unmigrated"))
        url += ("&" if "?" in url else "?") + "options=-csearch_path%3Dkw_unmigrated"
    else:
        url = f"sqlite:///{tmp_path / 'never-migrated.sqlite'}"
    app = make_app(SQLALCHEMY_DATABASE_URI=url, TESTING=False)
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="portal.errors"):
        answers = [client.get(f"/c/{generate_token()}"), client.get("/me"), client.get("/hr/queue")]
    assert [answer.status_code for answer in answers] == [503, 404, 302], [a.status_code for a in answers]
    assert answers[0].status_code == 503 and b"Traceback" not in answers[0].data
    told = [record for record in caplog.records if "flask db upgrade" in record.getMessage()]
    assert len(told) == 1
    assert client.get("/").status_code == 200  # pages that need no table still answer
    health = client.get("/healthz")
    assert health.status_code == 503 and b"schema missing" in health.data  # a load balancer keeps traffic away


def test_head_requests_on_candidate_pages_record_nothing(app, site):
    from portal.models import EngagementEvent

    candidate = gen_candidate(site, [("passed", utcnow())], cohort=gen_cohort())
    client = app.test_client()
    open_page(client, candidate)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(EngagementEvent))
    for path in ("/me", "/me/stories", "/me/calendar.ics"):
        assert client.head(path).status_code == 200, path
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EngagementEvent)) == before


def test_cli_link_for_an_id_beyond_the_database_range(app):
    result = app.test_cli_runner().invoke(args=["candidate-link", BEYOND_64_BITS])
    assert result.exit_code == 1 and "No candidate" in result.output


def test_healthz_is_down_while_the_schema_is_behind_the_code(make_app, tmp_path):
    from flask_migrate import upgrade

    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'behind.sqlite'}")
    with app.app_context():
        upgrade(revision="0002")
    behind = app.test_client().get("/healthz")
    assert behind.status_code == 503 and b"schema 0002" in behind.data and b"flask db upgrade" in behind.data
    with app.app_context():
        upgrade()
    assert app.test_client().get("/healthz").status_code == 200


def test_without_redis_failures_are_still_counted_in_memory(make_app):
    app = make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", FAILED_TOKEN_LIMIT="3 per 10 minutes")
    client = app.test_client()
    assert [client.get(f"/c/{generate_token()}").status_code for _ in range(4)] == [404, 404, 404, 429]


def test_a_nul_character_anywhere_in_a_form_or_query_is_refused_before_it_reaches_the_database(app, client, site):
    from portal.models import CandidateNote
    from tests.builders import gen_candidate, gen_user, signed_in

    hr = gen_user("hr", email="hr@example.com", name="HR")
    candidate = gen_candidate(site, owner=hr)
    signed_in(client, hr)
    refused = client.post(
        f"/hr/candidates/{candidate.id}/notes", data={"note-body": "a\x00b"}, headers={"Accept-Language": "en"}
    )
    assert refused.status_code == 400 and "a NUL" in refused.get_data(as_text=True)
    assert client.get("/hr/?q=%00", headers={"Accept-Language": "en"}).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CandidateNote)) == 0
