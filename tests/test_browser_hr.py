"""The HR back-office in a real browser, at a phone's size and a desktop's: Debian's Chromium, driven by Playwright.

Served and seeded as in test_browser (real HTTP, CSRF on, the demo organisation, whose HR user logs in with
the demo password). HR add a candidate, hand them a link, and move them a stage while the candidate, on a
phone in another browser context, sees the new stage become their current step; HR mark another candidate
as declined, with a reason and a date to contact them again, and find them in the talent pool.

Controls are found the way a screen reader finds them, by role and label. HR browse in English (the
labels are the source strings); the candidate's phone is Chinese. Screenshots go to test-output/browser/.
"""

import re
from datetime import date, timedelta

import pytest

from portal.demo import STAGES
from portal.templating import local_date
from tests import builders
from tests.test_browser import OUTPUT, PHONE, Watch, chromium, live_server, log_in  # noqa: F401  (fixtures)

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_browser's chromium fixture skips, with the reason
    expect = None

pytestmark = pytest.mark.browser

LABELS_ZH = {key: label_zh for key, label_zh, *_ in STAGES}
SIZES = {
    "phone": {**PHONE, "locale": "en-GB"},
    "desktop": {"viewport": {"width": 1280, "height": 800}, "locale": "en-GB", "timezone_id": "Asia/Shanghai"},
}
DECLINED = "李娜"  # a demo candidate the demo HR user looks after, waiting for a background check


@pytest.fixture(params=list(SIZES))
def hr(request, chromium, live_server):  # noqa: F811  (the fixtures imported above)
    """(a logged-in HR page at the size, its Watch, the base URL, the size's name, the app)."""
    app, _link = live_server
    with app.app_context():
        builders.gen_reasons()
    base_url = app.config["PUBLIC_BASE_URL"]
    context = chromium.new_context(**SIZES[request.param])
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        watch = Watch(page)
        log_in(page, base_url)
        yield page, watch, base_url, request.param, app
    finally:
        context.close()


def _screenshot(page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")


def _fits(page, size: str) -> None:
    """Nothing on the page is wider than the screen (a phone would scroll sideways)."""
    width = SIZES[size]["viewport"]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{page.url} is wider than {width}px"


def test_hr_add_and_move_a_candidate_who_sees_it_on_their_phone(chromium, hr):  # noqa: F811
    page, watch, base_url, size, _app = hr
    name = f"林晓{'阳' if size == 'phone' else '月'}"

    page.get_by_role("navigation", name="Back-office").get_by_role("link", name="Candidates").click()
    page.get_by_role("link", name="Add a candidate").click()
    expect(page.get_by_role("heading", level=1, name="Add a candidate")).to_be_visible()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Phone").fill("138 1234 5678")
    page.get_by_label("Position").fill("门店导购")
    page.get_by_label("Site or store").fill("上海 · 静安店")
    expect(page.get_by_label("Stage")).to_have_value(re.compile(r"\d+"))  # the first stage, preselected
    _fits(page, size)
    page.get_by_role("button", name="Add", exact=True).click()

    # Their page, at the first stage; the address is theirs from now on.
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    assert re.fullmatch(rf"{re.escape(base_url)}/hr/candidates/\d+", page.url), page.url
    candidate_url = page.url
    current = page.get_by_role("region", name="Progress, as the candidate sees it").locator("[aria-current=step]")
    expect(current).to_have_text(re.compile("Interview passed"))

    # A link, shown once; the candidate opens it on their phone.
    page.get_by_role("button", name=re.compile(r"^New link")).click()
    expect(page.get_by_role("heading", level=1, name=f"New link for {name}")).to_be_visible()
    expect(page.get_by_role("img", name="QR code of the link")).to_be_visible()
    link = page.get_by_role("textbox", name="The link").input_value().strip()
    assert re.fullmatch(rf"{re.escape(base_url)}/c/\S+", link), link
    _fits(page, size)

    phone = chromium.new_context(**PHONE)
    phone.set_default_timeout(10_000)
    try:
        mine = phone.new_page()
        their_watch = Watch(mine)
        mine.goto(link)
        assert mine.url == f"{base_url}/me", mine.url
        expect(mine.locator("#greeting")).to_contain_text(name)
        their_step = mine.locator("ol.timeline li[aria-current=step]")
        expect(their_step).to_contain_text(LABELS_ZH["passed"])

        # HR move them on.
        page.goto(candidate_url)
        move = page.get_by_role("form", name="Move to a stage")
        move.get_by_label("Stage").select_option(label="2. Background check")
        move.get_by_label("Note").fill("证件已收齐")
        move.get_by_role("button", name="Move").click()
        expect(current).to_have_text(re.compile("Background check"))
        expect(page.get_by_role("row").filter(has_text="证件已收齐")).to_contain_text("Background check")
        _fits(page, size)
        _screenshot(page, f"hr-candidate-{size}")
        watch.assert_clean(page)

        # The candidate sees the new stage as their current step, and the old one done.
        mine.reload()
        expect(their_step).to_contain_text(LABELS_ZH["background_check"])
        expect(their_step).not_to_contain_text(LABELS_ZH["passed"])
        expect(mine.locator("ol.timeline li.node.done")).to_have_text([re.compile(LABELS_ZH["passed"])])
        their_watch.assert_clean(mine)
    finally:
        phone.close()


def test_hr_mark_a_candidate_declined_and_find_them_in_the_talent_pool(hr):
    page, watch, _base_url, size, app = hr
    recontact_on = date.today() + timedelta(days=90)

    page.get_by_role("navigation", name="Back-office").get_by_role("link", name="Candidates").click()
    search = page.get_by_role("search")
    search.get_by_label("Name, phone or email").fill(DECLINED)
    search.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=DECLINED, exact=True).click()
    expect(page.get_by_role("heading", level=1, name=DECLINED)).to_be_visible()
    candidate_url = page.url

    leaving = page.get_by_role("region", name="Started, left, back")
    leaving.get_by_text("Left before starting").click()  # the <summary> that opens the form
    leaving.get_by_label("How they left").select_option(label="Declined the offer")
    leaving.get_by_label("Reason").select_option(label="Took another offer")
    leaving.get_by_label("Contact again on").fill(recontact_on.isoformat())
    leaving.get_by_label("Note").fill("明年春天可再联系")
    leaving.get_by_role("button", name="Mark as left").click()

    expect(leaving).to_contain_text("Declined the offer")
    expect(leaving).to_contain_text("Reason: Took another offer.")
    expect(leaving.get_by_role("button", name="Re-activate")).to_be_visible()
    with app.test_request_context(headers={"Accept-Language": "en-GB"}):
        shown_date = local_date(recontact_on)
    expect(leaving).to_contain_text(f"Contact again on {shown_date}.")
    _fits(page, size)

    page.get_by_role("navigation", name="Back-office").get_by_role("link", name="Talent pool").click()
    expect(page.get_by_role("heading", level=1, name="Talent pool")).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=DECLINED, exact=True))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(shown_date)
    expect(row).to_contain_text("Declined the offer")
    expect(row).to_contain_text("Took another offer")
    expect(row).to_contain_text("明年春天可再联系")
    _fits(page, size)
    _screenshot(page, f"hr-talent-pool-{size}")

    row.get_by_role("link", name=DECLINED, exact=True).click()
    assert page.url == candidate_url, page.url
    watch.assert_clean(page)


def test_hr_send_the_link_by_hand_and_see_the_visit_it_caused_with_no_token_stored(chromium, hr):  # noqa: F811
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import Base, Outbox
    from portal.services.outbox import send_due
    from tests.smtp import smtp_sink

    page, watch, base_url, size, app = hr
    name = "陈静"  # a demo candidate the demo HR user looks after, with an email address
    page.get_by_role("navigation", name="Back-office").get_by_role("link", name="Candidates").click()
    search = page.get_by_role("search")
    search.get_by_label("Name, phone or email").fill(name)
    search.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=name, exact=True).click()
    candidate_url = page.url

    messages = page.get_by_role("region", name="Messages")
    messages.get_by_label(re.compile("^Urgent")).first.check()
    messages.get_by_role("button", name="Send them the link").click()
    # The demo's automated welcome says "您的入职页面" too: the row HR sent names them.
    row = messages.get_by_role("row").filter(has_text="您的入职页面").filter(has_text="周晓雯")
    expect(row).to_contain_text("goes")
    _fits(page, size)

    with smtp_sink() as (sink, port), app.app_context():
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        message = db.session.scalars(sa.select(Outbox).where(Outbox.kind == "link", Outbox.created_by_id.is_not(None)))
        due = max(m.due_at for m in message)
        send_due(clock=lambda: due)
        mailed = sink.messages()[-1].get_body(("plain",)).get_content()
    link = re.search(rf"{re.escape(base_url)}/c/\S+", mailed).group(0)
    page.reload()
    expect(row).to_contain_text("sent")

    phone = chromium.new_context(**PHONE)
    try:
        mine = phone.new_page()
        mine.goto(link)
        expect(mine.locator("#greeting")).to_contain_text(name)
    finally:
        phone.close()

    page.goto(candidate_url)
    visits = page.get_by_role("region", name="Visits and ticks")
    expect(visits.get_by_role("link", name="the message “您的入职页面”").first).to_be_visible()
    expect(row.locator("td").last).not_to_have_text("—")  # "Portal opened" holds when
    _fits(page, size)
    _screenshot(page, f"hr-messages-{size}")
    watch.assert_clean(page)

    token = link.rsplit("/c/", 1)[1]
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            for stored in db.session.execute(sa.select(table)).all():
                assert token not in " ".join(map(str, stored)), f"the token is stored in {table.name}"
