"""Each seeded automation walked through time with an injected clock: which messages exist, when (the window),
in which language, never twice; across a cohort move, an opt-out and a candidate who left; the weekly cap;
switching on never back-fills; set-based evaluation run twice adds nothing."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Automation, Candidate, ChecklistItem, Outbox, Reason, Story
from portal.models.engagement import EventKind
from portal.services.automations import (
    DROPPED_CAP,
    DROPPED_MOVED,
    DROPPED_NOTHING_OPEN,
    DROPPED_OFF,
    DROPPED_STOPPED,
    evaluate,
    queue_stage_entered,
    resume_messages,
    save_automation,
    seed_rhythm,
    stop_messages,
    switch_automation,
)
from portal.services.candidates import add_candidate
from portal.services.checklist import set_item_done
from portal.services.cohorts import place_in_cohort
from portal.services.engagement import record_event
from portal.services.leaving import mark_left
from portal.services.outbox import send_due, send_link_by_hand
from portal.services.stages import move_to_stage
from tests.builders import gen_cohort, gen_reasons, gen_user
from tests.smtp import smtp_sink

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


# Monday 30 November 2026, 10:00 in Shanghai: a working day, in working hours.
MONDAY = local(2026, 11, 30, 10)


@pytest.fixture
def sink(app):
    with smtp_sink() as (sink, port):
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        yield sink


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="周晓雯", phone="+8613800001234")


class Clock:
    """The injected clock: walks time an hour at a time (or to the next message due sooner), evaluating and
    sending at each step as the jobs would. The rhythm's moments fall on whole hours."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def walk(self, until: datetime, step: timedelta = timedelta(hours=1)) -> None:
        self.tick()
        while self.now < until:
            next_due = db.session.scalar(
                sa.select(sa.func.min(Outbox.due_at)).where(Outbox.status == "queued", Outbox.due_at > self.now)
            )
            on_the_hour = self.now.replace(minute=0, second=0) + step
            self.now = min(on_the_hour, until, *([next_due] if next_due else []))
            self.tick()

    def tick(self) -> None:
        evaluate(self.now)
        db.session.commit()
        while send_due(clock=lambda: self.now).sent:
            pass


@pytest.fixture(autouse=True)
def stories_published_before_the_walks(site):
    """The site's stories, published in the weeks before the walks begin (newest first: 故事 0, 1, 2)."""
    for n, story in enumerate(db.session.scalars(sa.select(Story).order_by(Story.published_at.desc()))):
        story.published_at = MONDAY - timedelta(days=n + 1)
    db.session.commit()


def switch_on(clock: Clock, *names: str) -> list[Automation]:
    """The seeded rhythm, with only ``names`` switched on (from the clock's now)."""
    made = seed_rhythm(now=clock.now, enabled=False)
    for automation in made:
        if automation.name.endswith(names):  # "中文 · English": by the English
            automation.enabled, automation.evaluated_until = True, clock.now
    db.session.commit()
    assert len([a for a in made if a.enabled]) == len(names)
    return made


def messages(candidate: Candidate) -> list[Outbox]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Outbox).where(Outbox.candidate_id == candidate.id).order_by(Outbox.id)))


def summary(candidate: Candidate) -> list[tuple]:
    """(subject, status, when sent or due, in Shanghai) per message, oldest first."""
    return [
        (m.subject, m.status, (m.sent_at or m.due_at).astimezone(SHANGHAI).strftime("%a %d %H:%M"), m.reason)
        for m in messages(candidate)
    ]


def new_candidate(site, hr, clock: Clock, name="王小明", **fields) -> Candidate:
    locale = fields.pop("locale", None)
    candidate = add_candidate(
        name=name,
        phone=fields.pop("phone", None),
        email=f"c{len(name.encode())}{abs(hash(name)) % 10**8}@example.com",
        first_stage=site["passed"],
        actor=hr,
        owner_id=hr.id,
        now=clock.now,
        **fields,
    )
    candidate.locale = locale
    db.session.commit()
    return candidate


def test_welcome_an_hour_after_passing_and_tips_three_days_later_in_working_hours(app, site, hr, sink):
    clock = Clock(local(2026, 12, 4, 17, 30))  # a Friday, 17:30
    switch_on(clock, "Welcome with the portal link", "Preparation tips")
    chinese = new_candidate(site, hr, clock)
    english = new_candidate(site, hr, clock, name="Lily", locale="en")
    clock.walk(local(2026, 12, 18))
    # 18:30 on Friday is after hours: Monday 09:00. Three days and an hour later is Monday 18:30: Tuesday 09:00.
    assert summary(chinese) == [
        ("欢迎，王小明！这是您的入职页面", "sent", "Mon 07 09:00", ""),
        ("入职前的几条小建议", "sent", "Tue 08 09:00", ""),
    ]
    assert [m[0] for m in summary(english)] == [
        "Welcome, Lily! Here is your onboarding page",
        "A few tips before you start",
    ]
    welcome = sink.messages()[0]
    assert "周晓雯" in welcome.get_body(("plain",)).get_content() and "{portal_link}" not in welcome.as_string()
    assert messages(chinese)[0].body.count("{portal_link}") == 1  # the row keeps the placeholder, never the link


def test_no_welcome_for_someone_who_reached_the_stage_before_it_was_switched_on(app, site, hr, sink):
    clock = Clock(MONDAY)
    early = new_candidate(site, hr, clock)
    clock.now += timedelta(minutes=5)
    switch_on(clock, "Welcome with the portal link")
    clock.walk(MONDAY + timedelta(days=3))
    assert messages(early) == []


def test_a_friday_story_each_week_the_newest_unread_until_none_is_left(app, site, hr, sink):
    clock = Clock(MONDAY)
    switch_on(clock, "A colleague's story every Friday")
    candidate = new_candidate(site, hr, clock)
    newest = db.session.scalars(sa.select(Story).order_by(Story.published_at.desc())).all()
    clock.walk(local(2026, 12, 5))  # the first Friday
    record_event(candidate.id, EventKind.STORY, target=str(newest[1].id), now=clock.now)  # read the second
    db.session.commit()
    clock.walk(local(2026, 12, 12))
    record_event(candidate.id, EventKind.STORY, target=str(newest[0].id), now=clock.now)
    record_event(candidate.id, EventKind.STORY, target=str(newest[2].id), now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 26))  # all read: no third or fourth Friday story
    got = messages(candidate)
    assert [(m.story_id, m.subject) for m in got] == [
        (newest[0].id, "同事的故事：故事 0"),
        (newest[2].id, "同事的故事：故事 2"),
    ]
    assert [m.sent_at.astimezone(SHANGHAI).strftime("%a %d %H:%M") for m in got] == ["Fri 04 15:00", "Fri 11 15:00"]


def test_an_opt_out_stops_the_friday_story_but_not_an_essential_cohort_change(app, site, hr, sink):
    clock = Clock(MONDAY)
    switch_on(clock, "A colleague's story every Friday")
    first, second = gen_cohort(date(2026, 12, 21)), gen_cohort(date(2027, 1, 4), name="January")
    candidate = new_candidate(site, hr, clock, cohort_id=first.id)
    assert stop_messages(candidate.id, now=clock.now) and not stop_messages(candidate.id, now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 7))
    place_in_cohort(candidate, second.id, actor_id=hr.id, now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 8))
    assert summary(candidate) == [("您的培训安排有变化", "sent", "Mon 07 08:00", "")]  # moved at midnight: at 08:00
    assert resume_messages(candidate.id, now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 12))  # the next Friday after they resumed: a story again
    assert [m.subject for m in messages(candidate)][1:] == ["同事的故事：故事 0"]


def test_a_story_queued_before_the_opt_out_is_dropped_with_the_reason(app, site, hr, sink):
    clock = Clock(local(2026, 12, 4, 14))  # Friday 14:00
    switch_on(clock, "A colleague's story every Friday")
    candidate = new_candidate(site, hr, clock)
    sink.answers = ["451 4.3.0 later"]  # the story waits for a retry …
    clock.walk(local(2026, 12, 4, 15))
    stop_messages(candidate.id, now=clock.now)  # … and they stop messages meanwhile
    db.session.commit()
    clock.walk(local(2026, 12, 4, 16))
    assert [(m.status, m.reason) for m in messages(candidate)] == [("dropped", DROPPED_STOPPED)]


def test_the_offer_is_essential_a_saturday_morning_and_reaches_those_who_stopped_messages(app, site, hr, sink):
    clock = Clock(local(2026, 12, 5, 10))  # Saturday 10:00
    switch_on(clock, "Your offer is approved")
    cohort = gen_cohort(date(2026, 12, 14))
    candidate = new_candidate(site, hr, clock)
    stop_messages(candidate.id, now=clock.now)
    move_to_stage(candidate, site["background_check"], actor=hr, now=clock.now)
    move_to_stage(candidate, site["training_notice"], actor=hr, now=clock.now, cohort_id=cohort.id)
    db.session.commit()
    clock.walk(local(2026, 12, 9))
    [offer] = messages(candidate)
    assert (offer.kind, offer.status, offer.sent_at) == ("offer_decision", "sent", local(2026, 12, 5, 10))
    assert "2026年12月14日" in offer.body and "浦东培训中心" in offer.body


def test_countdown_a_week_before_and_see_you_tomorrow_on_a_sunday_across_a_cohort_move(app, site, hr, sink):
    clock = Clock(MONDAY)
    switch_on(clock, "One week to go: what to bring", "See you tomorrow")
    december, january = gen_cohort(date(2026, 12, 14)), gen_cohort(date(2027, 1, 11), name="January")
    moved = new_candidate(site, hr, clock, name="李娜", cohort_id=december.id)
    stays = new_candidate(site, hr, clock, name="张伟", cohort_id=december.id, locale="en")
    # The countdown falls on Monday 7 December 10:00; the move comes the Sunday before, when it is not yet queued.
    clock.walk(local(2026, 12, 6, 12))
    place_in_cohort(moved, january.id, actor_id=hr.id, now=clock.now)
    db.session.commit()
    clock.walk(local(2027, 1, 12))
    assert summary(stays) == [
        ("One week to go: what to bring", "sent", "Mon 07 10:00", ""),
        ("See you tomorrow!", "sent", "Sun 13 16:00", ""),  # any day: a Sunday, not Monday morning
    ]
    assert summary(moved) == [
        ("您的培训安排有变化", "sent", "Sun 06 12:00", ""),  # essential: told of the move at once, a Sunday
        ("还有一周：培训需要带什么", "sent", "Mon 04 10:00", ""),
        ("明天见！", "sent", "Sun 10 16:00", ""),
    ]
    assert {m.cohort_id for m in messages(moved)} == {january.id}


def test_a_queued_countdown_for_the_old_cohort_is_dropped_on_a_move_and_comes_back_on_moving_back(app, site, hr, sink):
    clock = Clock(MONDAY)
    switch_on(clock, "One week to go: what to bring")
    december, january = gen_cohort(date(2026, 12, 19)), gen_cohort(date(2027, 1, 11), name="January")
    candidate = new_candidate(site, hr, clock, cohort_id=december.id)
    clock.walk(local(2026, 12, 12, 12))  # Saturday 12 December 10:00: queued for Monday 09:00
    assert summary(candidate) == [("", "queued", "Mon 14 09:00", "")]
    place_in_cohort(candidate, january.id, actor_id=hr.id, now=clock.now)
    db.session.commit()
    assert summary(candidate) == [
        ("", "dropped", "Mon 14 09:00", DROPPED_MOVED),
        ("您的培训安排有变化", "queued", "Sat 12 12:00", ""),
    ]
    # Back to December before its moment passed by the evaluator's catch-up: queued afresh at its moment? No:
    # the moment is past, so only January's comes, at its own time.
    clock.walk(local(2027, 1, 5))
    assert [(m.cohort_id, m.status) for m in messages(candidate)] == [
        (december.id, "dropped"),
        (january.id, "sent"),  # told of the move
        (january.id, "sent"),
    ]


def test_checklist_reminder_on_the_due_day_for_what_is_still_open(app, site, hr, sink):
    clock = Clock(MONDAY)
    switch_on(clock, "Checklist reminder")
    items = db.session.scalars(sa.select(ChecklistItem).order_by(ChecklistItem.position)).all()
    items[0].required, items[0].due_days_before = True, 3
    items[1].required, items[1].due_days_before = True, 3
    items[2].required = True  # required, no due day: never chased
    cohort = gen_cohort(date(2026, 12, 17))  # a Thursday: due Monday 14 December
    done_early = new_candidate(site, hr, clock, name="早", cohort_id=cohort.id)
    forgets = new_candidate(site, hr, clock, name="忘", cohort_id=cohort.id)
    ticks_late = new_candidate(site, hr, clock, name="晚", cohort_id=cohort.id)
    for item in items[:2]:
        set_item_done(done_early.id, item.id, True, now=clock.now)
    set_item_done(forgets.id, items[0].id, True, now=clock.now)
    db.session.commit()
    sink.answers = ["451 later", "451 later"]  # the reminders wait a minute, while the last one ticks everything
    clock.walk(local(2026, 12, 14, 10))
    for item in items[:3]:
        set_item_done(ticks_late.id, item.id, True, now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 18))
    assert messages(done_early) == []
    [reminder] = messages(forgets)
    # Every required item still open is listed, the one due that day and the one without a due day alike.
    assert reminder.status == "sent" and items[0].label_zh not in reminder.body
    assert f"- {items[1].label_zh}\n- {items[2].label_zh}" in reminder.body
    assert [(m.status, m.reason) for m in messages(ticks_late)] == [("dropped", DROPPED_NOTHING_OPEN)]


def test_an_unseen_training_notice_gets_a_text_message_a_day_later(app, site, hr, sink):
    clock = Clock(MONDAY)
    switch_on(clock, "Training notice not seen: a text message")
    cohort = gen_cohort(date(2026, 12, 21))
    unseen = new_candidate(site, hr, clock, name="未读", phone="+8613900000001")
    seen = new_candidate(site, hr, clock, name="已读", phone="+8613900000002")
    for candidate in (unseen, seen):
        move_to_stage(candidate, site["background_check"], actor=hr, now=clock.now)
        move_to_stage(candidate, site["training_notice"], actor=hr, now=clock.now, cohort_id=cohort.id)
    db.session.commit()
    clock.walk(MONDAY + timedelta(hours=5))
    record_event(seen.id, EventKind.VIEW, target="page", now=clock.now)
    db.session.commit()
    clock.walk(MONDAY + timedelta(days=4))
    [reminder] = messages(unseen)
    assert (reminder.channel, reminder.sent_at) == ("sms", MONDAY + timedelta(days=1))
    assert reminder.sms_template == "keepwarm_training_notice" and reminder.sms_params["date"] == "2026年12月21日"
    assert messages(seen) == []


def test_nothing_for_someone_who_left_and_what_waited_is_dropped(app, site, hr, sink):
    gen_reasons()
    clock = Clock(local(2026, 12, 4, 17, 30))
    switch_on(clock, "Welcome with the portal link", "A colleague's story every Friday")
    candidate = new_candidate(site, hr, clock)
    reason_id = db.session.scalars(sa.select(Reason.id)).first()
    mark_left(candidate, actor=hr, kind="withdrew", reason_id=reason_id, now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 19))
    assert [(m.status, m.reason) for m in messages(candidate)] == [("dropped", "the candidate left")]


def test_the_weekly_cap_drops_the_fourth_and_never_holds_back_what_hr_send(app, site, hr, sink):
    clock = Clock(local(2026, 12, 4, 9))  # Friday 09:00
    switch_on(clock, *(spec for spec in ("Welcome with the portal link", "A colleague's story every Friday")))
    candidate = new_candidate(site, hr, clock)
    for n in range(2):  # HR send two links by hand: they count
        send_link_by_hand(candidate, actor_id=hr.id, request_key=f"{n:032x}", urgent=False, now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 4, 16))
    assert [m.status for m in messages(candidate)] == ["sent", "sent", "sent", "dropped"]
    assert messages(candidate)[3].reason == DROPPED_CAP  # the story: welcome + two by hand made three
    send_link_by_hand(candidate, actor_id=hr.id, request_key="f" * 32, urgent=False, now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 4, 17))
    assert messages(candidate)[-1].status == "sent"  # over the cap, and still sent


def test_evaluating_the_same_moment_twice_adds_nothing(app, site, hr):
    clock = Clock(local(2026, 12, 4, 14))
    switch_on(clock, "A colleague's story every Friday")
    for n in range(5):
        new_candidate(site, hr, clock, name=f"人{n}")
    first = evaluate(local(2026, 12, 4, 16)).total
    for automation in db.session.scalars(sa.select(Automation)):
        automation.evaluated_until = local(2026, 12, 4, 14)  # as if a second evaluator ran at the same time
    again = evaluate(local(2026, 12, 4, 16)).total
    assert (first, again, db.session.scalar(sa.select(sa.func.count()).select_from(Outbox))) == (5, 0, 5)


def test_each_candidate_gets_the_newest_story_they_themselves_have_not_read(app, site, hr, sink):
    """What one candidate read or was sent never hides a story from another."""
    clock = Clock(local(2026, 12, 4, 14))
    switch_on(clock, "A colleague's story every Friday")
    reader, other = new_candidate(site, hr, clock, name="读者"), new_candidate(site, hr, clock, name="别人")
    newest = db.session.scalars(sa.select(Story).order_by(Story.published_at.desc())).all()
    record_event(reader.id, EventKind.STORY, target=str(newest[0].id), now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 4, 16))
    assert [m.story_id for m in messages(reader)] == [newest[1].id]
    assert [m.story_id for m in messages(other)] == [newest[0].id]
    clock.walk(local(2026, 12, 11, 16))  # a week on: each the next one they have neither read nor been sent
    assert [m.story_id for m in messages(reader)] == [newest[1].id, newest[2].id]
    assert [m.story_id for m in messages(other)] == [newest[0].id, newest[1].id]


def test_switching_off_drops_what_waits_and_a_new_schedule_counts_from_its_saving(app, site, hr, sink):
    clock = Clock(local(2026, 12, 4, 17, 30))  # Friday after hours: the welcome waits for Monday
    [welcome] = [a for a in switch_on(clock, "Welcome with the portal link") if a.enabled]
    candidate = new_candidate(site, hr, clock)
    assert [m.status for m in messages(candidate)] == ["queued"]
    switch_automation(welcome, False, actor_id=hr.id, now=clock.now)
    switch_automation(welcome, True, actor_id=hr.id, now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 8))
    assert [(m.status, m.reason) for m in messages(candidate)] == [("dropped", DROPPED_OFF)]
    # Made a Friday-09:00 automation at 12:00 on a Friday: nothing for that morning, the next Friday's goes.
    clock.now = local(2026, 12, 11, 12)
    values = {
        "name": welcome.name,
        "trigger": "weekly",
        "weekday": 5,
        "at_time": "09:00",
        "kind": "automated",
        "channels": "email",
        "body_zh": "{{ name }}，周五好",
        "stage_id": None,
    }
    save_automation(welcome, values, actor_id=hr.id, now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 18, 10))
    assert [m.status for m in messages(candidate)] == ["dropped", "sent"]
    assert messages(candidate)[1].sent_at == local(2026, 12, 18, 9)


def test_moved_into_a_cohort_days_before_it_starts_they_get_what_its_members_had(app, site, hr, sink):
    clock = Clock(MONDAY)
    switch_on(clock, "One week to go: what to bring", "Checklist reminder")
    item = db.session.scalars(sa.select(ChecklistItem).order_by(ChecklistItem.position)).first()
    item.required, item.due_days_before = True, 3
    first, soon = gen_cohort(date(2027, 1, 11)), gen_cohort(date(2026, 12, 10), name="Soon")
    member = new_candidate(site, hr, clock, name="老成员", cohort_id=soon.id)
    mover = new_candidate(site, hr, clock, name="新来的", cohort_id=first.id)
    clock.walk(local(2026, 12, 8, 12))  # past soon's countdown (3 Dec) and its checklist day (7 Dec)
    place_in_cohort(mover, soon.id, actor_id=hr.id, now=clock.now)
    db.session.commit()
    clock.walk(local(2026, 12, 9))
    assert [m.subject for m in messages(member)] == ["还有一周：培训需要带什么", "别忘了准备这些"]
    assert [m.subject for m in messages(mover)] == ["还有一周：培训需要带什么", "别忘了准备这些", "您的培训安排有变化"]
    assert {m.sent_at for m in messages(mover)} == {local(2026, 12, 8, 12)}
    assert {m.cohort_id for m in messages(mover)} == {soon.id}


def test_someone_added_after_the_interview_still_gets_the_welcome(app, site, hr, sink):
    clock = Clock(MONDAY)
    switch_on(clock, "Welcome with the portal link")
    candidate = add_candidate(
        name="后来的",
        phone=None,
        email="later@example.com",
        first_stage=site["background_check"],
        actor=hr,
        now=clock.now,
    )
    db.session.commit()
    clock.walk(MONDAY + timedelta(hours=2))
    assert [m.subject for m in messages(candidate)] == ["欢迎，后来的！这是您的入职页面"]
    queue_stage_entered([candidate.id], now=clock.now, joined=True)  # the same event again: nothing more
    db.session.commit()
    clock.walk(MONDAY + timedelta(hours=4))
    assert len(messages(candidate)) == 1
