"""The candidate page in a real browser: Debian's Chromium, driven by Playwright, at a phone's size.

The app is served over real HTTP (werkzeug in a thread) with CSRF switched on, seeded with the demo
data, and opened through a demo candidate link the way a phone would open it from a WeChat message.
A second scenario does the same with JavaScript off: the plain form POST must still work.

Skipped, with the reason, when /usr/bin/chromium or the ``playwright`` package is missing
(``./dev test`` installs Chromium and the CJK fonts when it may).
"""

import re
import socket
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from portal.demo import DEMO_USERS

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError as error:  # pragma: no cover - depends on the machine
    sync_playwright = None
    PLAYWRIGHT_IMPORT_ERROR = error

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# An Android phone opening the link inside WeChat, the candidates' usual browser.
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.188 Mobile Safari/537.36 "
    "XWEB/1260117 MMWEBSDK/20240801 MMWEBID/1234 MicroMessenger/8.0.50.2701(0x28003237) "
    "WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64"
)
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": PHONE_UA,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
DEMO_STATE = "cohort starting in 2 days"  # 陈静: current step 入职准备, a cohort, the full checklist
CJK = re.compile(r"[\u4e00-\u9fff]")

# Runs before any page script and outside the page's CSP, so it may be "inline". Each document keeps its
# own window.__csp; every violation is also handed to Python, so none is lost to a reload in between.
COLLECT_CSP_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  var text = e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " +
             (e.sourceFile || location.href) + ":" + e.lineNumber;
  window.__csp.push(text);
  if (window.__reportCsp) window.__reportCsp(text);
});
"""


@pytest.fixture(scope="module")
def chromium():
    if sync_playwright is None:
        pytest.skip(
            f"the playwright package cannot be imported ({PLAYWRIGHT_IMPORT_ERROR}); "
            "install the test extras: pip install -e '.[test]'"
        )
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing; `./dev test` installs Debian's chromium (apt) when run as root")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def live_server(make_app):
    """The app on a real port, seeded with the demo; yields (app, a demo candidate's link)."""
    from portal.demo import load_demo

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = make_app(PUBLIC_BASE_URL=base_url, WTF_CSRF_ENABLED=True)
    with app.app_context():
        lines = load_demo()
    link = next(line.split()[-1] for line in lines if DEMO_STATE in line)
    assert link.startswith(f"{base_url}/c/"), lines
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield app, link
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


class Watch:
    """Everything a page says went wrong: console errors, uncaught exceptions, failed or 4xx/5xx requests."""

    def __init__(self, page, csp_listener=True):
        self.console, self.exceptions, self.requests, self.csp = [], [], [], []
        self.csp_listener = csp_listener
        if csp_listener:
            page.add_init_script(COLLECT_CSP_VIOLATIONS)
            page.expose_function("__reportCsp", lambda text: self.csp.append(text))
        page.on("console", lambda msg: msg.type == "error" and self.console.append(f"{msg.text} @ {msg.location}"))
        page.on("pageerror", lambda exc: self.exceptions.append(str(exc)))
        page.on("requestfailed", lambda req: self.requests.append(f"{req.method} {req.url}: {req.failure}"))
        page.on("response", lambda res: res.status >= 400 and self.requests.append(f"{res.status} {res.url}"))

    def assert_clean(self, page):
        if self.csp_listener:
            here = page.evaluate("window.__csp")
            assert here == [], f"CSP violations on {page.url}: {here}"
        assert self.csp == [], f"CSP violations: {self.csp}"
        assert [m for m in self.console if "Content Security Policy" in m] == [], "CSP violations in the console"
        assert self.console == [], f"console errors: {self.console}"
        assert self.exceptions == [], f"uncaught exceptions: {self.exceptions}"
        assert self.requests == [], f"failed requests: {self.requests}"


def log_in(page, base_url: str, who: int = 0) -> None:
    """Through the back-office's login form as a demo user (``who``: 0 HR, 1 the admin), then let the page
    finish loading (the next page would abort its favicon)."""
    email, password, *_ = DEMO_USERS[who]
    page.goto(f"{base_url}/hr/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.wait_for_load_state("networkidle")


def _first_open_item(page):
    item = page.locator(".checklist li.check:not(.done)").first
    expect(item).to_be_visible()
    return item, item.get_attribute("id")


def test_phone_with_htmx_ticks_an_item_that_survives_a_reload(chromium, live_server):
    app, link = live_server
    context = chromium.new_context(**PHONE)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        watch = Watch(page)
        page.goto(link)

        # The token is swapped for a cookie and never stays in the address bar.
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/me", page.url), page.url
        assert page.evaluate("typeof window.htmx") == "object", "htmx did not load"

        # Chinese for a zh-CN phone: the page's language, its own headings and the stage names.
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        heading = page.locator("#timeline-title").inner_text()
        assert CJK.search(heading), f"timeline heading is not translated: {heading!r}"
        timeline = page.locator("ol.timeline")
        expect(timeline).to_be_visible()
        expect(timeline.locator("li.node")).to_have_count(5)
        expect(timeline).to_contain_text("面试通过")
        expect(timeline.locator("li.node.current")).to_contain_text("入职准备")
        expect(page.locator("#greeting")).to_contain_text("陈静")

        # Nothing wider than the phone; every checklist row is a comfortable tap target.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for box in [b.bounding_box() for b in page.locator(".checklist button").all()]:
            assert box["height"] >= 44 and box["width"] >= 300, box

        item, item_id = _first_open_item(page)
        label = item.inner_text().strip()
        assert CJK.search(label), label
        expect(item.get_by_role("checkbox")).to_have_attribute("aria-checked", "false")
        page.evaluate("window.__notReloaded = true")

        with page.expect_response(lambda r: "/me/checklist/" in r.url and r.request.method == "POST") as answer:
            item.get_by_role("checkbox").tap()
        response = answer.value
        assert response.status == 200, response.status
        request_headers = response.request.all_headers()
        assert request_headers.get("hx-request") == "true", request_headers
        assert request_headers.get("x-csrftoken"), "htmx sent no CSRF header"
        body = response.text()
        assert body.lstrip().startswith(f'<li id="{item_id}"') and "<html" not in body, body[:200]
        assert "hx-request" in response.headers.get("vary", "").lower()

        ticked = page.locator(f"#{item_id}")
        expect(ticked).to_have_class(re.compile(r"\bdone\b"))
        expect(ticked.get_by_role("checkbox")).to_have_attribute("aria-checked", "true")
        assert page.evaluate("window.__notReloaded === true"), "the tick reloaded the whole page"
        assert page.url.endswith("/me"), page.url
        expect(page.locator("#flash")).to_be_hidden()
        assert "htmx-history-cache" not in page.evaluate("Object.keys(localStorage)")

        page.reload()
        ticked = page.locator(f"#{item_id}")
        expect(ticked).to_have_class(re.compile(r"\bdone\b"))
        expect(ticked.get_by_role("checkbox")).to_have_attribute("aria-checked", "true")
        expect(ticked).to_contain_text(label)
        assert "htmx-history-cache" not in page.evaluate("Object.keys(localStorage)")

        OUTPUT.mkdir(parents=True, exist_ok=True)
        shot = OUTPUT / "candidate-phone.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")
        watch.assert_clean(page)
    finally:
        context.close()

    # The server saw a phone, not a bot: a real view and the tick are on record.
    from portal.extensions import db
    from portal.models import Candidate, EngagementEvent

    with app.app_context():
        candidate = db.session.scalars(sa.select(Candidate).where(Candidate.name == "陈静")).one()
        events = db.session.execute(
            sa.select(EngagementEvent.kind, EngagementEvent.target, EngagementEvent.device).where(
                EngagementEvent.candidate_id == candidate.id
            )
        ).all()
        number = item_id.removeprefix("item-")
        assert ("checklist", f"{number}:on", "mobile") in events, events
        assert ("view", "page", "mobile") in events, events


def test_phone_without_javascript_ticks_through_the_plain_form(chromium, live_server):
    _app, link = live_server
    context = chromium.new_context(**PHONE, java_script_enabled=False)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        watch = Watch(page, csp_listener=False)  # no script runs; Chromium still logs violations
        page.goto(link)
        assert page.url.endswith("/me"), page.url
        expect(page.locator("ol.timeline")).to_contain_text("面试通过")

        item, item_id = _first_open_item(page)
        with page.expect_navigation():
            item.get_by_role("checkbox").click()
        assert page.url.endswith(f"/me#{item_id}"), page.url
        ticked = page.locator(f"#{item_id}")
        expect(ticked).to_have_class(re.compile(r"\bdone\b"))
        expect(ticked.get_by_role("checkbox")).to_have_attribute("aria-checked", "true")
        watch.assert_clean(page)
    finally:
        context.close()


def test_phone_stops_reminders_then_no_friday_story_is_queued_but_a_cohort_change_is(chromium, live_server):
    """The candidate taps "stop reminders and stories" on their page; at the next Friday 15:00 the story
    automation queues a story for others and none for them; moved to another cohort, they are still told."""
    from datetime import UTC, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from portal.extensions import db
    from portal.models import Automation, Candidate, Cohort, Outbox, User
    from portal.services.automations import evaluate
    from portal.services.cohorts import place_in_cohort
    from tests.builders import gen_link

    app, _link = live_server
    who = "demo-training-notice@example.com"  # waiting for training: the Friday story is for them
    with app.app_context():
        her = db.session.scalars(sa.select(Candidate).where(Candidate.email == who)).one()
        link = f"{app.config['PUBLIC_BASE_URL']}/c/{gen_link(her)}"
    context = chromium.new_context(**PHONE)
    page = context.new_page()
    watch = Watch(page)
    try:
        page.goto(link)
        section = page.locator("#messages")
        section.get_by_role("button", name="不再接收提醒和故事").click()
        expect(section.get_by_role("button", name="重新接收提醒和故事")).to_be_visible()
        expect(section).to_contain_text("必须告知您的消息")
        watch.assert_clean(page)
        shot = OUTPUT / "phone-messages-stopped.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        section.screenshot(path=str(shot))
    finally:
        context.close()

    with app.app_context():
        her = db.session.scalars(sa.select(Candidate).where(Candidate.email == who)).one()
        assert her.messages_stopped_at is not None
        zone = ZoneInfo(app.config["TIMEZONE"])
        today = datetime.now(zone).date()
        friday = today + timedelta(days=(5 - today.isoweekday()) % 7 or 7)
        at = datetime.combine(friday, time(15), tzinfo=zone).astimezone(UTC)
        for automation in db.session.scalars(sa.select(Automation)):
            automation.evaluated_until = at - timedelta(minutes=1)
        queued = evaluate(at).queued
        db.session.commit()
        stories = sa.select(Outbox.candidate_id).where(Outbox.story_id.is_not(None), Outbox.status == "queued")
        assert queued["每周五同事故事 · A colleague's story every Friday"] > 0
        story_for = set(db.session.scalars(stories))
        assert her.id not in story_for
        # Her colleague at the same stage, who did not stop them, gets one: she would have too.
        colleague = db.session.scalars(
            sa.select(Candidate.id).where(Candidate.current_stage_id == her.current_stage_id, Candidate.id != her.id)
        ).first()
        assert colleague in story_for
        later = db.session.scalars(  # another open cohort with places: the soonest (the demo's A 班)
            sa.select(Cohort).where(Cohort.id != her.cohort_id, Cohort.status == "open").order_by(Cohort.starts_on)
        ).first()
        hr = db.session.scalars(sa.select(User).where(User.role == "hr")).first()
        place_in_cohort(her, later.id, actor_id=hr.id, now=at)
        db.session.commit()
        change = db.session.scalars(
            sa.select(Outbox).where(Outbox.candidate_id == her.id, Outbox.kind == "training_change")
        ).one()
        assert change.status == "queued" and change.essential and change.cohort_id == later.id


def test_an_admin_plans_a_cohort_the_candidate_confirms_on_their_phone_and_hr_see_it(chromium, live_server):
    """An admin creates a cohort with two sessions and puts a candidate in it (the list's bulk action); the
    candidate, on a phone, sees their training with its sessions and confirms in one tap; HR see the
    confirmation in the cohort view."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from portal.extensions import db
    from portal.models import Candidate, Cohort
    from tests.builders import gen_link

    app, _link = live_server
    base = app.config["PUBLIC_BASE_URL"]
    first_day = datetime.now(ZoneInfo(app.config["TIMEZONE"])).date() + timedelta(days=20)
    desk = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Asia/Shanghai")
    page = desk.new_page()
    watch = Watch(page)
    try:
        log_in(page, base, who=1)
        page.goto(f"{base}/admin/cohorts/new")
        page.get_by_label("Name", exact=True).fill("浏览器测试班")
        page.get_by_label("First day").fill(first_day.isoformat())
        page.get_by_label("Last day").fill((first_day + timedelta(days=1)).isoformat())
        page.get_by_label("Places", exact=True).fill("12")
        page.get_by_label("Place in Chinese").fill("静安培训中心")
        page.get_by_label("Address", exact=True).fill("南京西路 1600 号")
        page.get_by_role("button", name="Create the cohort").click()
        expect(page.locator("h1")).to_contain_text("浏览器测试班")
        page.wait_for_load_state("networkidle")
        for day, start, end, title, trainer in (
            (0, "09:00", "12:00", "开班与安全", "林老师"),
            (1, "13:00", "17:00", "门店实操", "王店长"),
        ):
            page.get_by_label("Day", exact=True).select_option(index=day)
            page.get_by_label("Starts").fill(start)
            page.get_by_label("ends").fill(end)
            page.get_by_label("Title in Chinese").fill(title)
            page.get_by_label("Trainer").fill(trainer)
            page.get_by_role("button", name="Add the session").click()
            expect(page.locator("main")).to_contain_text(title)
            page.wait_for_load_state("networkidle")  # its favicon too: the next submit would abort it
        watch.assert_clean(page)

        page.goto(f"{base}/hr/?q=demo-just-passed")
        page.locator("input[name=bulk-ids]").first.check()
        page.get_by_text("Act on the ticked candidates").click()
        chosen = page.locator("select[name=bulk-cohort] option", has_text="浏览器测试班").get_attribute("value")
        page.locator("select[name=bulk-cohort]").select_option(chosen)
        page.get_by_role("button", name="Assign the cohort").click()
        expect(page.locator(".bulk-result")).to_contain_text("Done")
        watch.assert_clean(page)
    finally:
        desk.close()

    with app.app_context():
        him = db.session.scalars(sa.select(Candidate).where(Candidate.email == "demo-just-passed@example.com")).one()
        cohort = db.session.scalars(sa.select(Cohort).where(Cohort.name == "浏览器测试班")).one()
        assert him.cohort_id == cohort.id
        link = f"{base}/c/{gen_link(him)}"
    phone = chromium.new_context(**PHONE)
    page = phone.new_page()
    watch = Watch(page)
    try:
        page.goto(link)
        training = page.locator("#training")
        expect(training).to_contain_text("浏览器测试班")
        expect(training).to_contain_text("开班与安全")
        expect(training).to_contain_text("讲师：王店长")
        place = page.locator("#attendance")
        place.get_by_role("button", name="我会准时参加").click()
        expect(place).to_contain_text("您已确认会参加")
        watch.assert_clean(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot = OUTPUT / "phone-cohort-confirmed.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    finally:
        phone.close()

    desk = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Asia/Shanghai")
    page = desk.new_page()
    try:  # HR, who look after him
        log_in(page, base)
        page.goto(f"{base}/hr/cohorts/{cohort.id}")
        row = page.locator(f"#member-{him.id}")
        expect(row).to_contain_text("王小明")
        expect(row.locator("td").nth(1)).to_contain_text("✓")
    finally:
        desk.close()


def test_a_candidate_asks_for_another_date_and_a_question_and_hr_answer_both(chromium, live_server):
    """On a phone, 陈静 asks for a later cohort and asks HR a question (htmx, no reload); HR see both tasks in
    their queue, accept the request and answer the question on her page; her page then shows the new cohort
    and the answer."""
    app, link = live_server
    base = app.config["PUBLIC_BASE_URL"]
    phone = chromium.new_context(**PHONE)
    page = phone.new_page()
    watch = Watch(page)
    try:
        page.goto(link)
        ask = page.locator("#ask")
        ask.get_by_text("我需要换一个培训日期").click()
        ask.get_by_label("原因").select_option(index=1)
        later = ask.locator("select[name=cohort] option", has_text="1月 门店新人培训 B 班").get_attribute("value")
        ask.get_by_label("您方便参加的后面一期培训（可选）").select_option(later)
        ask.get_by_label("还想告诉 HR 的（可选）").first.fill("那周要考试")
        ask.get_by_role("button", name="申请改期").click()
        expect(page.locator("#ask")).to_contain_text("申请更换培训日期")
        expect(page.locator("#ask")).to_contain_text("那周要考试")
        page.locator("#ask").get_by_label("您的问题").fill("培训结束后几点下班？")
        page.locator("#ask").get_by_role("button", name="发送给 HR").click()
        expect(page.locator("#ask .thread")).to_contain_text("培训结束后几点下班？")
        expect(page.locator("#ask")).to_contain_text("等待 HR 答复")
        watch.assert_clean(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot = OUTPUT / "phone-asked-hr.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    finally:
        phone.close()

    desk = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Asia/Shanghai")
    page = desk.new_page()
    watch = Watch(page)
    try:
        log_in(page, base)
        page.goto(f"{base}/hr/queue")
        row = page.locator("tr.person", has_text="陈静")
        expect(row).to_contain_text("Asked a question")
        expect(row).to_contain_text("for another date or store")
        row.get_by_role("link", name="Answer on their page").first.click()
        thread = page.locator("#thread")
        expect(page.locator("#thread-title")).to_contain_text("waiting")
        request = thread.locator(".waiting-ask", has_text="那周要考试")
        expect(request.locator("select[name=cohort] option:checked")).to_contain_text("1月 门店新人培训 B 班")
        page.wait_for_load_state("networkidle")
        request.get_by_role("button", name="Accept").click()
        expect(page.locator("#thread ol.thread").last).to_contain_text("Moved to 1月 门店新人培训 B 班")
        page.wait_for_load_state("networkidle")
        question = page.locator("#thread .waiting-ask", has_text="培训结束后几点下班？")
        question.get_by_label("Your answer").fill("下午五点半，最后一天会早一点。")
        question.get_by_role("button", name="Send the answer").click()
        expect(page.locator("#thread .thread").last).to_contain_text("下午五点半，最后一天会早一点。")
        page.wait_for_load_state("networkidle")
        watch.assert_clean(page)
    finally:
        desk.close()

    phone = chromium.new_context(**PHONE)
    page = phone.new_page()
    try:
        page.goto(link)
        expect(page.locator("#training")).to_contain_text("1月 门店新人培训 B 班")
        expect(page.locator("#ask")).to_contain_text("下午五点半，最后一天会早一点。")
        expect(page.locator("#ask")).to_contain_text("已同意")
        page.screenshot(path=str(OUTPUT / "phone-hr-answered.png"), full_page=True)
    finally:
        phone.close()
