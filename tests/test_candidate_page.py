"""What a candidate sees and what their visits record."""

import re
from datetime import UTC, timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from portal.demo import DEMO_STATES, load_demo
from portal.extensions import db
from portal.models import Candidate, ChecklistCompletion, ChecklistItem, EngagementEvent, utcnow
from tests.builders import gen_candidate, gen_cohort, gen_stories, gen_user, open_page

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


def _demo_page(app, email, headers=EN):
    candidate = db.session.scalars(sa.select(Candidate).where(Candidate.email == email)).one()
    client = app.test_client()
    response = open_page(client, candidate, **headers)
    assert response.status_code == 200
    return client, response.data.decode()


@pytest.fixture
def demo(app):
    load_demo()


def _current_label(html):
    return re.search(r'class="node current".*?class="label">([^<]+)<', html, re.S).group(1)


@pytest.mark.parametrize(
    "email, current, expect",
    [
        (DEMO_STATES[0][0], "Interview passed", ["Background check", "date to be announced", "our turn"]),
        (DEMO_STATES[1][0], "Background check", ["our turn", "This step is on us"]),
        (DEMO_STATES[2][0], "Training notice", ["Download to calendar", "Shanghai Xuhui Training Centre", "Open map"]),
        (
            DEMO_STATES[3][0],
            "Onboarding preparation",
            ["Shanghai Pudong Training Centre", "Install and register in the rota app"],
        ),
        (DEMO_STATES[4][0], "Training notice", ["Schedule"]),
    ],
    ids=[state for _, state in DEMO_STATES],
)
def test_demo_states_show_where_the_candidate_stands(app, demo, email, current, expect):
    _client, html = _demo_page(app, email)
    assert _current_label(html) == current
    for text in expect:
        assert text in html, text
    assert "Hello," in html and "What happens next:" in html
    assert "周晓雯" in html or "HR hotline" in html  # an HR contact always
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00">', html)


def test_timeline_marks_done_current_and_upcoming_with_times_in_organisation_zone(app, site):
    reached = utcnow().replace(hour=1, minute=30, second=0, microsecond=0)  # 09:30 in Shanghai
    candidate = gen_candidate(site, [("passed", reached - timedelta(days=2)), ("background_check", reached)])
    html = open_page(app.test_client(), candidate, **EN).data.decode()
    assert html.count('class="node done"') == 1
    assert html.count('class="node current"') == 1
    assert html.count('class="node upcoming"') == 3
    assert f'datetime="{reached.isoformat(timespec="seconds")}"' in html
    assert "9:30" in html  # shown in Asia/Shanghai, not UTC (01:30)
    assert "expected" in html


def test_cohort_calendar_is_valid_icalendar(app, site):
    cohort = gen_cohort(days=3)
    candidate = gen_candidate(site, [("passed", utcnow())], cohort=cohort)
    client = app.test_client()
    open_page(client, candidate)
    response = client.get("/me/calendar.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    events = list(calendar.walk("VEVENT"))
    # The three sessions, and the all-day event a phone may hold from before they were planned, cancelled.
    assert sorted(str(event["STATUS"]) for event in events) == ["CANCELLED", "CONFIRMED", "CONFIRMED", "CONFIRMED"]
    assert all(event.get("uid") and event.get("dtstamp") and event.get("dtstart") for event in events)
    assert calendar.get("prodid") and calendar.get("version") == "2.0"
    assert db.session.scalar(sa.select(sa.func.count()).where(EngagementEvent.kind == "calendar")) == 1


def test_calendar_without_cohort_is_not_found(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    client = app.test_client()
    open_page(client, candidate)
    assert client.get("/me/calendar.ics").status_code == 404


def test_views_record_engagement_and_last_seen(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    client = app.test_client()
    open_page(client, candidate, **{"User-Agent": "Mozilla/5.0 (Linux; Android 14) Mobile"})
    client.get("/me")
    story_id = db.session.scalars(sa.select(sa.text("id")).select_from(sa.table("story"))).first()
    client.get(f"/me/stories/{story_id}")
    client.get("/me/stories")
    rows = db.session.execute(
        sa.select(EngagementEvent.kind, EngagementEvent.target, EngagementEvent.device)
        .where(EngagementEvent.kind != "prefetch")
        .order_by(EngagementEvent.id)
    ).all()
    assert [tuple(r) for r in rows] == [
        ("view", "page", "mobile"),
        ("view", "page", "desktop"),
        ("story", str(story_id), "desktop"),
        ("view", "stories", "desktop"),
    ]
    db.session.refresh(candidate)
    assert utcnow() - candidate.last_seen_at < timedelta(seconds=30)


def test_engagement_table_has_no_raw_ip_or_user_agent():
    columns = {column.name for column in EngagementEvent.__table__.columns}
    assert not columns & {"ip", "ip_address", "user_agent", "remote_addr"}


def _checklist_item_ids():
    return db.session.scalars(sa.select(ChecklistItem.id).order_by(ChecklistItem.position)).all()


def test_checklist_tick_and_untick_without_javascript(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    client = app.test_client()
    open_page(client, candidate)
    item = _checklist_item_ids()[0]
    response = client.post(f"/me/checklist/{item}", data={"done": "1"})
    assert response.status_code == 303 and response.headers["Location"] == f"/me#item-{item}"
    page = client.get("/me").data.decode()
    assert re.search(rf'id="item-{item}" class="check done"', page)
    client.post(f"/me/checklist/{item}", data={"done": "0"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChecklistCompletion)) == 0


def test_checklist_toggle_with_htmx_returns_the_item_and_is_idempotent(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    client = app.test_client()
    open_page(client, candidate)
    item = _checklist_item_ids()[1]
    for _ in range(3):
        response = client.post(f"/me/checklist/{item}", data={"done": "1"}, headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert "HX-Request" in response.headers["Vary"]
        html = response.data.decode()
        assert html.lstrip().startswith(f'<li id="item-{item}" class="check done"')
        assert "<html" not in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChecklistCompletion)) == 1
    events = db.session.scalars(sa.select(EngagementEvent.target).where(EngagementEvent.kind == "checklist")).all()
    assert events == [f"{item}:on"]  # repeats changed nothing and logged nothing


def test_checklist_item_of_another_cohort_is_refused(app, site):
    other = gen_cohort(name="Other")
    foreign = ChecklistItem(position=9, label_zh="别的", label_en="other", cohort_id=other.id)
    db.session.add(foreign)
    db.session.commit()
    candidate = gen_candidate(site, [("passed", utcnow())])
    client = app.test_client()
    open_page(client, candidate)
    assert client.post(f"/me/checklist/{foreign.id}", data={"done": "1"}).status_code == 404
    assert client.post("/me/checklist/99999", data={"done": "1"}).status_code == 404


def test_checklist_needs_a_candidate(app, site):
    item = _checklist_item_ids()[0]
    assert app.test_client().post(f"/me/checklist/{item}", data={"done": "1"}).status_code == 404


def test_chinese_by_default_and_english_on_request(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    zh = open_page(app.test_client(), candidate).data.decode()
    assert '<html lang="zh-CN">' in zh and "面试通过" in zh
    en = open_page(app.test_client(), candidate, **EN).data.decode()
    assert '<html lang="en">' in en and "Interview passed" in en and "Your progress" in en


def test_profile_locale_wins_over_browser(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())], locale="en")
    html = open_page(app.test_client(), candidate, **ZH).data.decode()
    assert '<html lang="en">' in html


def test_language_switch_is_remembered_on_cookie_and_profile(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    client = app.test_client()
    assert "面试通过" in open_page(client, candidate, **ZH).data.decode()
    response = client.post("/lang", data={"locale": "en", "next": "/me"}, headers=ZH)
    assert response.status_code == 303 and response.headers["Location"] == "/me"
    assert "Interview passed" in client.get("/me", headers=ZH).data.decode()
    db.session.refresh(candidate)
    assert candidate.locale == "en"
    # Another device without the cookie follows the profile.
    assert "Interview passed" in open_page(app.test_client(), candidate, **ZH).data.decode()


def test_language_switch_refuses_open_redirects_and_unknown_locales(app):
    client = app.test_client()
    assert client.post("/lang", data={"locale": "en", "next": "https://evil.example/"}).headers["Location"] == "/me"
    assert client.post("/lang", data={"locale": "en", "next": "//evil.example/"}).headers["Location"] == "/me"
    response = client.post("/lang", data={"locale": "xx", "next": "/privacy"})
    assert "Set-Cookie" not in response.headers


def test_stories_list_is_paginated_and_a_story_opens(app, site):
    gen_stories(25)
    candidate = gen_candidate(site, [("passed", utcnow())])
    client = app.test_client()
    open_page(client, candidate, **EN)
    first = client.get("/me/stories", headers=EN).data.decode()
    assert first.count('href="/me/stories/') == 10
    assert "Page 1 of 3" in first and 'rel="next"' in first
    last = client.get("/me/stories?page=3", headers=EN).data.decode()
    assert last.count('href="/me/stories/') == 8
    assert client.get("/me/stories/999999").status_code == 404


def test_privacy_notice_is_linked_from_every_candidate_page(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    client = app.test_client()
    html = open_page(client, candidate, **EN).data.decode()
    assert 'href="/privacy"' in html
    notice = client.get("/privacy", headers=EN).data.decode()
    assert "IP address" in notice and "phone, tablet or computer" in notice


def test_hr_contact_is_the_owner_with_tel_and_mailto(app, site):
    owner = gen_user(name="周晓雯", phone="+86 138 0000 1234", email="zhou@example.com")
    candidate = gen_candidate(site, [("passed", utcnow())], owner=owner)
    html = open_page(app.test_client(), candidate).data.decode()
    assert 'href="tel:+8613800001234"' in html and 'href="mailto:zhou@example.com"' in html


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.loaded, self.inline_scripts = [], 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe") and attrs.get("src"):
            self.loaded.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.loaded.append(attrs["href"])
        if tag == "script" and not attrs.get("src"):
            self.inline_scripts += 1
        for name in attrs:
            assert not name.startswith("on"), f"inline handler {name}"


def test_page_loads_nothing_from_third_parties_and_has_no_inline_script(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())], cohort=gen_cohort())
    html = open_page(app.test_client(), candidate).data.decode()
    refs = _Refs()
    refs.feed(html)
    assert refs.loaded and all(src.startswith("/static/") for src in refs.loaded)
    assert refs.inline_scripts == 0


def test_security_headers_on_candidate_pages(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    response = open_page(app.test_client(), candidate)
    headers = response.headers
    assert headers["Cache-Control"] == "no-store"
    assert "noindex" in headers["X-Robots-Tag"]
    assert headers["Referrer-Policy"] == "strict-origin"
    csp = headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ):
        assert directive in csp
    assert "unsafe" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_every_route_sends_no_store_and_robots_disallows_links(app):
    client = app.test_client()
    robots = client.get("/robots.txt").data.decode()
    assert "Disallow: /c/" in robots
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.arguments - {"token"}:
            continue
        path = rule.rule.replace("<token>", "x" * 43)
        response = client.get(path)
        assert response.headers.get("Cache-Control") == "no-store", path


def test_responses_are_compressed_for_clients_that_ask(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())], cohort=gen_cohort())
    client = app.test_client()
    plain = open_page(client, candidate)
    compressed = client.get("/me", headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert len(compressed.data) < len(plain.data) / 2


def test_page_statement_count_is_constant(app, site):
    """The candidate page issues the same number of SQL statements for small and large histories."""
    from tests.sqlcount import count_statements

    stages = site
    small = gen_candidate(stages, [("passed", utcnow() - timedelta(days=3))], cohort=gen_cohort())
    large = gen_candidate(
        stages,
        [(key, utcnow() - timedelta(days=60 - i)) for i in range(50) for key in ["passed"]],
        name="大历史",
        cohort=gen_cohort(days=10),
    )
    client_small, client_large = app.test_client(), app.test_client()
    open_page(client_small, small)
    open_page(client_large, large)
    with count_statements() as few:
        assert client_small.get("/me").status_code == 200
    gen_stories(200)
    with count_statements() as many:
        assert client_large.get("/me").status_code == 200
    assert len(few) == len(many), "\n".join(few) + "\n----\n" + "\n".join(many)
    # The session row with the candidate's progress, then the view's record: one statement on
    # PostgreSQL, an INSERT and an UPDATE on SQLite.
    assert len(few) == (2 if db.engine.dialect.name == "postgresql" else 3), "\n".join(few)


def test_a_views_relaxed_commit_stays_with_the_view(app, site):
    """On PostgreSQL the view's record commits on its own, relaxed; the connection goes back durable."""
    from portal.services.engagement import begin_page_view, record_view

    if db.engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    candidate = gen_candidate(site, [("passed", utcnow())])
    candidate_id = candidate.id
    client = app.test_client()
    assert open_page(client, candidate).status_code == 200
    assert client.get("/me").status_code == 200
    db.session.remove()
    with db.engine.connect() as connection:  # the pool hands back the connection the page used
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    with pytest.raises(RuntimeError, match="begin_page_view"):
        record_view(candidate_id, None, "view", "page", device="mobile", link_unopened=False, now=utcnow())
    db.session.rollback()
    begin_page_view()
    record_view(candidate_id, None, "view", "page", device="mobile", link_unopened=False, now=utcnow())
    assert db.session.connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_first_view_transfers_under_60_kb(app, site):
    """HTML plus every stylesheet and script it loads, gzip-compressed as sent over the wire."""
    candidate = gen_candidate(site, [("passed", utcnow())], cohort=gen_cohort(days=10))
    client = app.test_client()
    gzip = {"Accept-Encoding": "gzip"}
    token_page = open_page(client, candidate, **gzip)
    refs = _Refs()
    refs.feed(client.get("/me").data.decode())
    total = len(token_page.data)
    for src in refs.loaded:
        response = client.get(src, headers=gzip)
        assert response.status_code == 200, src
        assert "max-age=31536000" in response.headers["Cache-Control"], src
        if not src.split("?")[0].endswith(".svg"):
            assert response.headers.get("Content-Encoding") == "gzip", src
        total += len(response.get_data())
    assert total < 60 * 1024, total
    assert total < 30 * 1024, "compression of static files regressed"


def test_old_engagement_is_purged(app, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    old = utcnow() - timedelta(days=181)
    db.session.add_all(
        [
            EngagementEvent(candidate_id=candidate.id, kind="view", occurred_at=old),
            EngagementEvent(candidate_id=candidate.id, kind="view", occurred_at=utcnow()),
        ]
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge"])
    assert "Deleted 1 " in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EngagementEvent)) == 1


def test_landing_page_points_candidates_and_hr_the_right_way(app):
    html = app.test_client().get("/", headers=EN).data.decode()
    assert "personal link" in html and 'href="/hr/login"' in html


def test_expected_dates_never_lie_in_the_past(app, site):
    """An overdue step says it is running late instead of showing an expected date that has passed."""
    candidate = gen_candidate(
        site, [("passed", utcnow() - timedelta(days=12)), ("background_check", utcnow() - timedelta(days=10))]
    )
    html = open_page(app.test_client(), candidate, **EN).data.decode()
    assert "taking a little longer than planned" in html
    assert "expected" not in html.split('id="timeline-title"')[0]  # not in the hero either


def test_expected_date_uses_the_organisation_day(app, site):
    from datetime import date
    from zoneinfo import ZoneInfo

    from portal.candidate.timeline import build_timeline

    shanghai = ZoneInfo("Asia/Shanghai")
    stages = sorted(site.values(), key=lambda s: s.position)
    # 23:30 UTC on 1 Dec is already 2 Dec in Shanghai: the 5-day check is due 7 Dec, not 6 Dec.
    from datetime import datetime

    reached = {site["background_check"].id: datetime(2026, 12, 1, 23, 30, tzinfo=UTC)}
    nodes = build_timeline(stages, reached, site["background_check"].id, None, today=date(2026, 12, 2), zone=shanghai)
    assert nodes[2].expected_on == date(2026, 12, 7)


def test_anything_under_c_gets_the_invalid_link_page(app):
    client = app.test_client()
    reference = client.get("/c/" + "x" * 43).data
    for path in ("/c/", "/c/a/b", "/c/../../etc/passwd"):
        response = client.get(path)
        assert response.status_code == 404 and response.data == reference, path


def test_cached_cohort_fragment_never_carries_one_candidates_details_to_another(app, site):
    """Someone adds personal fields to the shared cohort partial: they must not leak across the cohort."""
    from jinja2 import ChoiceLoader, DictLoader

    source = app.jinja_loader.get_source(app.jinja_env, "candidate/_cohort.html")[0]
    careless = source.replace(
        "</section>",
        "{% if candidate is defined %}LEAK-NAME:{{ candidate.name }}{% endif %}{{ name }}"
        "{% if csrf_token is defined %}LEAK-CSRF:{{ csrf_token() }}{% endif %}"
        "{% if request is defined %}LEAK-REQUEST:{{ request.cookies }}{% endif %}"
        "{% if csrf_meta_tag is defined %}LEAK-META:{{ csrf_meta_tag() }}{% endif %}"
        "{% if here is defined %}LEAK-HERE:{{ here() }}{% endif %}</section>",
    )
    # Every environment of the app loads templates through app.jinja_loader.
    app.jinja_loader = ChoiceLoader([DictLoader({"candidate/_cohort.html": careless}), app.jinja_loader])
    cohort = gen_cohort()
    first = gen_candidate(site, [("passed", utcnow())], name="第一位访客", cohort=cohort)
    second = gen_candidate(site, [("passed", utcnow())], name="第二位访客", cohort=cohort)
    first_page = open_page(app.test_client(), first, **ZH).data.decode()
    second_page = open_page(app.test_client(), second, **ZH).data.decode()
    assert cohort.name in first_page and cohort.name in second_page
    assert "第一位访客" not in second_page
    assert "第二位访客" not in first_page
    assert "LEAK-" not in first_page + second_page  # nor the first visitor's CSRF token or cookies


def test_a_finished_step_of_ours_no_longer_says_our_turn(app, demo):
    _client, html = _demo_page(app, DEMO_STATES[2][0])  # background check done, training notice now
    assert "Background check" in html and "our turn" not in html
