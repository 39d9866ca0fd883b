"""Realistic demo data: one retail chain, its stores, cohorts in each state (open, full with a waitlist,
rescheduled, cancelled), and a candidate for each interesting state."""

import itertools
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import (
    Automation,
    Candidate,
    ChecklistItem,
    Cohort,
    CohortSession,
    EngagementEvent,
    Outbox,
    Reason,
    Stage,
    StageEvent,
    Store,
    Story,
    User,
    WaitlistEntry,
    utcnow,
)
from portal.models.candidates import Channel
from portal.models.engagement import Device, EventKind
from portal.models.outbox import MessageStatus
from portal.models.reasons import DEFAULT_REASONS
from portal.models.threads import Topic
from portal.services.automations import message_context, render, seed_rhythm
from portal.services.cohorts import COHORT_FIELDS, cancel_cohort, place_in_cohort, save_cohort
from portal.services.engagement import record_event
from portal.services.links import issue_link, public_link_url
from portal.services.outbox import message_locale, send_link_by_hand
from portal.services.staff import create_user
from portal.services.stages import advance_stage
from portal.services.stores import StoreError, assign_store
from portal.services.threads import ask
from portal.services.worktime import WorkCalendar

DEMO_USERS = (
    # email, password, name, role, phone
    ("hr@example.com", "keepwarm-hr", "周晓雯", "hr", "+86 138 0000 1234"),
    ("admin@example.com", "keepwarm-admin", "Alex Admin", "admin", None),
)

STAGES_NEEDING_A_COHORT = {"training_notice"}
STAGES = (
    # key, label_zh, label_en, side, expected_days, description_zh, description_en
    (
        "passed",
        "面试通过",
        "Interview passed",
        "candidate",
        1,
        "恭喜！您已通过面试，我们正在为您准备后续步骤。",
        "Congratulations! You passed the interview; we are preparing the next steps.",
    ),
    (
        "background_check",
        "背景调查",
        "Background check",
        "company",
        5,
        "我们正在核实您的资料，这一步由我们完成，您无需操作。",
        "We are checking your details. This step is on us; nothing for you to do.",
    ),
    (
        "training_notice",
        "培训通知",
        "Training notice",
        "candidate",
        3,
        "请查看下方的培训时间和地点，有问题请联系您的 HR。",
        "Please read the training dates and place below; questions go to your HR contact.",
    ),
    (
        "onboarding_prep",
        "入职准备",
        "Onboarding preparation",
        "candidate",
        7,
        "请按清单准备入职所需材料。",
        "Please prepare the items on the checklist.",
    ),
    (
        "training_start",
        "培训开始",
        "Training starts",
        "candidate",
        None,
        "欢迎加入！培训第一天见。",
        "Welcome aboard! See you on the first day of training.",
    ),
)

STORIES = (
    (
        "从店员到店长：小林的三年",
        "From shop assistant to store manager: Lin's three years",
        "小林 2023 年加入门店，如今管理着 12 人的团队。",
        "Lin joined in 2023 and now leads a team of twelve.",
        "小林第一次来培训时非常紧张。\n\n三个月后，她成了店里最受欢迎的导购。\n\n"
        "今天，她带着 12 人的团队，也负责新人的带教。",
        "Lin was nervous on her first training day.\n\nThree months later she was the store's favourite adviser."
        "\n\nToday she leads a team of twelve and mentors new hires.",
    ),
    (
        "培训第一天会发生什么？",
        "What happens on the first training day?",
        "签到、领工服、认识你的带教老师。",
        "Check in, get your uniform, meet your mentor.",
        "早上 9 点签到，领取工服和工牌。\n\n上午了解公司和门店，下午跟随带教老师熟悉岗位。",
        "Check in at 9:00 and collect your uniform and badge.\n\n"
        "The morning is about the company and stores; in the afternoon you shadow your mentor.",
    ),
    (
        "我们的员工食堂",
        "Our staff canteen",
        "每天三餐，员工价 8 元起。",
        "Three meals a day, from 8 yuan.",
        "每个区域中心都有员工食堂。\n\n培训期间午餐免费。",
        "Every regional centre has a staff canteen.\n\nLunch is free during training.",
    ),
    (
        "夜班补贴怎么算？",
        "How the night-shift allowance works",
        "透明的补贴规则。",
        "Clear allowance rules.",
        "夜班每小时补贴 5 元，按月发放。",
        "Night shifts earn 5 yuan per hour extra, paid monthly.",
    ),
    (
        "门店伙伴的一天",
        "A day with the store team",
        "跟随阿杰体验一天的工作。",
        "Spend a day with Jie.",
        "早上 8 点半开店准备。\n\n中午高峰，晚上盘点。",
        "Opening prep at 8:30.\n\nThe lunch rush, then the evening stock count.",
    ),
)

CHECKLIST = (
    ("身份证原件及复印件 2 份", "ID card and two copies"),
    ("近期一寸免冠照片 2 张", "Two recent passport photos"),
    ("银行卡（用于发放工资）", "A bank card for your salary"),
    ("健康证或体检报告", "Health certificate or medical report"),
    ("黑色平底鞋", "Black flat shoes"),
)

CURRICULUM = (
    (
        "公司介绍与安全培训",
        "Company introduction and safety",
        "上午：公司历史与价值观；下午：门店安全规范。",
        "Morning: history and values. Afternoon: store safety.",
    ),
    ("商品与收银", "Products and checkout", "熟悉商品陈列与收银系统。", "Product displays and the checkout system."),
    ("顾客服务", "Customer service", "服务礼仪与常见问题处理。", "Service etiquette and common questions."),
    ("门店实操", "In-store practice", "在带教老师指导下实际上岗。", "Hands-on work with your mentor."),
    (
        "考核与结业",
        "Assessment and graduation",
        "上午考核，下午结业仪式。",
        "Assessment in the morning, graduation in the afternoon.",
    ),
)


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


TRAINERS = ("林老师", "王店长", "陈主管")
STORES = (
    # name, district, address, places for new hires
    ("浦东八佰伴店", "浦东新区", "上海市浦东新区张杨路 501 号", 6),
    ("陆家嘴店", "浦东新区", "上海市浦东新区陆家嘴环路 1000 号", 4),
    ("徐家汇店", "徐汇区", "上海市徐汇区虹桥路 1 号", 5),
    ("漕河泾店", "徐汇区", "上海市徐汇区宜山路 700 号", 3),
    ("静安寺店", "静安区", "上海市静安区南京西路 1601 号", 4),
    ("苏州园区店", "苏州工业园区", "苏州市工业园区苏州大道东 265 号", 6),
)
DISTRICTS = ("浦东新区", "徐汇区", "苏州工业园区")


def _cohort(
    name: str, starts_on: date, place_zh: str, place_en: str, address: str, capacity: int = 30, site: str = "上海"
) -> Cohort:
    cohort = Cohort(
        name=name,
        site=site,
        starts_on=starts_on,
        ends_on=starts_on + timedelta(days=len(CURRICULUM) - 1),
        place_zh=place_zh,
        place_en=place_en,
        address=address,
        map_url="https://uri.amap.com/search?keyword=" + quote(address),
        capacity=capacity,
        bring_zh="身份证、笔和笔记本、一颗好奇心。",
        bring_en="Your ID card, a pen and notebook, and curiosity.",
    )
    db.session.add(cohort)
    db.session.flush()
    for offset, (title_zh, title_en, detail_zh, detail_en) in enumerate(CURRICULUM):
        day = starts_on + timedelta(days=offset)
        db.session.add(
            CohortSession(
                cohort_id=cohort.id,
                starts_at=_local(day, 9),
                ends_at=_local(day, 17),
                title_zh=title_zh,
                title_en=title_en,
                detail_zh=detail_zh,
                detail_en=detail_en,
                trainer=TRAINERS[offset % len(TRAINERS)],
                room="301 教室" if offset < 3 else "门店",
            )
        )
    return cohort


def _candidate(name, *, owner, stages_reached, now, cohort=None, last_seen_days=None, email=None, **fields):
    """A candidate who reached each (stage, days ago) in order, with views up to last_seen_days ago."""
    candidate = Candidate(
        name=name,
        owner_id=owner.id if owner else None,
        cohort_id=cohort.id if cohort else None,
        email=email,
        created_at=now - timedelta(days=stages_reached[0][1]),
        **fields,
    )
    db.session.add(candidate)
    db.session.flush()
    for stage, days_ago in stages_reached:
        advance_stage(candidate, stage, now=now - timedelta(days=days_ago), actor_id=owner.id if owner else None)
    if last_seen_days is not None:
        first_day = int(stages_reached[0][1])
        for days_ago in range(first_day, int(last_seen_days) - 1, -1):
            seen_at = now - timedelta(days=max(days_ago, last_seen_days))
            record_event(candidate.id, EventKind.VIEW, target="page", device=Device.MOBILE, now=seen_at)
    return candidate


# The candidates whose links are printed: email, the state the page shows, name, cohort, whether the demo
# HR user owns them, days since their last visit (None: never), and the stages reached (key, days ago).
DEMO_CANDIDATES = (
    ("demo-just-passed@example.com", "just passed", "王小明", None, True, None, [("passed", 1 / 24)]),
    ("demo-background-check@example.com", "waiting for background check (overdue)", "李娜", None, True, 1,
     [("passed", 9), ("background_check", 8)]),
    ("demo-training-notice@example.com", "training notice sent, asked for another date", "张伟", "later", True, 2,
     [("passed", 12), ("background_check", 11), ("training_notice", 1)]),
    ("demo-starting-soon@example.com", "cohort starting in 2 days, asked HR a question", "陈静", "soon", True, 0.5,
     [("passed", 20), ("background_check", 18), ("training_notice", 12), ("onboarding_prep", 6)]),
    ("demo-quiet@example.com", "gone quiet for 8 days", "刘洋", "later", False, 8,
     [("passed", 15), ("background_check", 14), ("training_notice", 10)]),
)  # fmt: skip
DEMO_STATES = tuple((email, state) for email, state, *_ in DEMO_CANDIDATES)
STAGE_FIELDS = ("key", "label_zh", "label_en", "side", "expected_days", "description_zh", "description_en")
STORY_FIELDS = ("title_zh", "title_en", "summary_zh", "summary_en", "body_zh", "body_en")


def add_stages() -> dict[str, Stage]:
    """The demo pipeline, by stage key (the tests build on it too)."""
    stages = {
        row[0]: Stage(
            position=position,
            needs_cohort=row[0] in STAGES_NEEDING_A_COHORT,
            **dict(zip(STAGE_FIELDS, row, strict=True)),
        )
        for position, row in enumerate(STAGES)
    }
    db.session.add_all(stages.values())
    return stages


def add_checklist() -> None:
    """The checklist every candidate sees."""
    db.session.add_all(
        ChecklistItem(position=position, label_zh=label_zh, label_en=label_en)
        for position, (label_zh, label_en) in enumerate(CHECKLIST)
    )


def seed(now: datetime) -> None:
    """Create the demo organisation's data in an empty database."""
    users = [
        create_user(email, name=name, password=password, role=role, phone=phone, now=now)
        for email, password, name, role, phone in DEMO_USERS
    ]
    hr = users[0]
    stages = add_stages()
    db.session.add_all(
        Story(published_at=now - timedelta(days=30 - index), **dict(zip(STORY_FIELDS, row, strict=True)))
        for index, row in enumerate(STORIES)
    )
    add_checklist()
    db.session.flush()

    today = now.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()
    soon = _cohort(
        "12月 门店新人培训 A 班",
        today + timedelta(days=2),
        "上海浦东培训中心",
        "Shanghai Pudong Training Centre",
        "上海市浦东新区张杨路 500 号 3 楼",
    )
    later = _cohort(
        "12月 门店新人培训 B 班",
        today + timedelta(days=5),
        "上海徐汇培训中心",
        "Shanghai Xuhui Training Centre",
        "上海市徐汇区漕溪北路 88 号 5 楼",
    )
    # Rescheduled before anyone joined: its pages say "was to start on …", its sessions moved with it.
    admin = users[1]
    save_cohort(
        later,
        {field: getattr(later, field) for field in COHORT_FIELDS}
        | {"starts_on": later.starts_on + timedelta(days=7), "ends_on": later.ends_on + timedelta(days=7)},
        actor_id=admin.id,
        now=now,
    )
    full = _cohort(
        "1月 门店新人培训 A 班",
        today + timedelta(days=33),
        "苏州园区培训中心",
        "Suzhou Industrial Park Training Centre",
        "苏州市工业园区星湖街 328 号 2 楼",
        capacity=4,
        site="苏州",
    )
    # A later cohort with places: where someone who asks for another date can go.
    next_month = _cohort(
        "1月 门店新人培训 B 班",
        today + timedelta(days=40),
        "上海浦东培训中心",
        "Shanghai Pudong Training Centre",
        "上海市浦东新区张杨路 500 号 3 楼",
    )
    cancelled = _cohort(
        "12月 门店新人培训 C 班",
        today + timedelta(days=16),
        "上海静安培训中心",
        "Shanghai Jing'an Training Centre",
        "上海市静安区南京西路 1600 号 8 楼",
    )
    # Someone who was in it when it was cancelled: their page says so, HR move them on.
    left_waiting = _candidate(
        "吕思远",
        owner=hr,
        now=now,
        cohort=cancelled,
        last_seen_days=1,
        stages_reached=[(stages["passed"], 14), (stages["background_check"], 12), (stages["training_notice"], 6)],
        email="demo-cancelled@example.com",
        phone="+8613900000090",
        district="静安区",
        position="门店导购",
        site="上海 · 静安店",
        source_channel="门店招聘会",
    )
    cancel_cohort(cancelled, actor_id=admin.id, now=now)
    assert left_waiting.cohort_id == cancelled.id
    stores = [
        Store(name=name, district=district, address=address, open_places=places)
        for name, district, address, places in STORES
    ]
    db.session.add_all(stores)
    db.session.flush()
    cohorts: dict[str | None, Cohort | None] = {"soon": soon, "later": later, None: None}
    db.session.add(
        ChecklistItem(
            position=len(CHECKLIST),
            label_zh="提前下载排班 App 并注册",
            label_en="Install and register in the rota app",
            cohort_id=soon.id,
        )
    )

    common = {
        "position": "门店导购",
        "site": "上海 · 浦东店",
        "source_channel": "门店招聘会",
    }
    numbers = itertools.count(1)
    for email, _state, name, cohort, owned, last_seen_days, reached in DEMO_CANDIDATES:
        _candidate(
            name,
            email=email,
            # Distinct, stored as services.candidates stores them (E.164), so that duplicates are found.
            phone=f"+861390000{next(numbers):04d}",
            owner=hr if owned else None,
            now=now,
            cohort=cohorts[cohort],
            last_seen_days=last_seen_days,
            stages_reached=[(stages[k], days) for k, days in reached],
            **common,
        )

    # Enough colleagues around them that the back-office lists need their pages.
    people = []
    surnames = "赵钱孙周吴郑冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
    for index, surname in enumerate(surnames):
        stage_keys = [key for key, *_ in STAGES][: 1 + index % 4]
        colleague_reached = [(stages[key], 20 - step * 4 - index % 3) for step, key in enumerate(stage_keys)]
        colleague = _candidate(
            f"{surname}{'婷强芳磊静军'[index % 6]}",
            owner=hr if index % 3 else None,
            now=now,
            cohort=cohorts[("soon", "later", None)[index % 3]],
            last_seen_days=index % 9,
            stages_reached=colleague_reached,
            district=DISTRICTS[index % 3],
            **{**common, "site": ("上海 · 浦东店", "上海 · 徐汇店", "苏州 · 园区店")[index % 3]},
        )
        if colleague.cohort_id is not None and index % 4:  # most have said they will come
            colleague.attendance_confirmed_at = now - timedelta(days=index % 3, hours=2)
        if colleague.cohort_id == soon.id and index % 2:
            try:
                assign_store(colleague, stores[index % 4].id, actor_id=hr.id, now=now)
            except StoreError:
                pass  # that store's places are taken: HR choose another on their page
        people.append(colleague)
    # The January cohort: four places, four members, and two waiting in the order they passed.
    for index, name in enumerate(("冯晓东", "邹佳怡", "喻子涵", "柏雨桐", "水天宇", "窦欣然")):
        newcomer = _candidate(
            name,
            owner=hr,
            now=now,
            last_seen_days=index % 3,
            stages_reached=[(stages["passed"], 10 - index), (stages["background_check"], 8 - index)],
            district="苏州工业园区",
            **{**common, "site": "苏州 · 园区店"},
        )
        place_in_cohort(newcomer, full.id, actor_id=hr.id, now=now)
        people.append(newcomer)
    starting = db.session.scalars(sa.select(Candidate).where(Candidate.email == "demo-starting-soon@example.com")).one()
    starting.attendance_confirmed_at, starting.store_id, starting.district = (
        now - timedelta(days=1),
        stores[0].id,
        "浦东新区",
    )
    # They answer back: a question waiting five working hours (past the four that make it urgent, whenever the
    # demo starts), and a request for another date waiting one.
    calendar = WorkCalendar(now)
    asked = calendar.working_time_before(now, timedelta(hours=5))
    ask(starting, Topic.QUESTION, body="培训第一天需要带身份证原件吗？要穿工服吗？", now=asked)
    moving = db.session.scalars(sa.select(Candidate).where(Candidate.email == "demo-training-notice@example.com")).one()
    if db.session.scalar(sa.select(sa.func.count()).select_from(Reason)) == 0:  # the migration seeds them, but
        db.session.add_all(  # a database emptied since (the test suite's) has none
            Reason(position=n, label_zh=zh, label_en=en) for n, (zh, en) in enumerate(DEFAULT_REASONS)
        )
        db.session.flush()
    family = db.session.scalars(sa.select(Reason).order_by(Reason.label_en != "Family", Reason.position)).first()
    ask(
        moving,
        Topic.ANOTHER_DATE,
        body="那一周要陪家人看病，下个月的班可以吗？",
        reason_id=family.id if family else None,
        preferred_cohort_id=next_month.id,
        now=calendar.working_time_before(now, timedelta(hours=1)),
    )
    # The rhythm, switched on: what it would have sent them so far is on their pages, the rest comes live.
    automations = {a.name.split(" · ")[-1]: a for a in seed_rhythm(now=now, enabled=True)}
    demo_people = db.session.scalars(sa.select(Candidate).where(Candidate.email.like("demo-%"))).all()
    for person in [*demo_people, *people]:
        _message_history(person, automations, now)


def _message_history(candidate: Candidate, automations: dict[str, Automation], now: datetime) -> None:
    """The welcome, the tips and last Friday's story as the rhythm sent them (each in its window, with a link of
    its own that was opened when they visited soon after), keyed as the live automations key them."""
    calendar = WorkCalendar(now - timedelta(days=40))
    passed = db.session.scalar(
        sa.select(sa.func.min(StageEvent.reached_at)).where(StageEvent.candidate_id == candidate.id)
    )
    if passed is None or not candidate.email:  # the rhythm writes by email
        return
    sent: list[tuple[Automation, datetime, str, Story | None]] = []
    for name in ("Welcome with the portal link", "Preparation tips"):
        automation = automations[name]  # by the English part of "中文 · English"
        due = calendar.send_at(passed + timedelta(minutes=automation.delay_minutes), essential=False).at
        sent.append((automation, due, f"auto:{automation.id}:{candidate.id}", None))
    story_automation = automations["A colleague's story every Friday"]
    today = now.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()
    friday = today - timedelta(days=(today.isoweekday() - 5) % 7)
    friday_at = _local(friday, 15)
    story = db.session.scalars(
        sa.select(Story).where(Story.published_at <= friday_at).order_by(Story.published_at.desc())
    ).first()
    if story is not None and passed < friday_at:
        sent.append((story_automation, friday_at, f"auto:{story_automation.id}:{candidate.id}:{friday}", story))
    for automation, at, key, about in sorted(sent, key=lambda item: item[1]):
        if at > now:
            continue
        locale = message_locale(candidate)
        subject, body, params = render(automation, locale, message_context(candidate, locale, story=about))
        link, _token = issue_link(candidate, Channel.EMAIL, now=at, rearm=False)
        link.first_opened_at = db.session.scalar(  # their first visit within 48 hours came through it
            sa.select(sa.func.min(EngagementEvent.occurred_at)).where(
                EngagementEvent.candidate_id == candidate.id,
                EngagementEvent.kind == EventKind.VIEW,
                EngagementEvent.occurred_at.between(at, at + timedelta(hours=48)),
            )
        )
        db.session.add(
            Outbox(
                idempotency_key=key,
                candidate_id=candidate.id,
                kind=automation.kind,
                channels=automation.channels,
                locale=locale,
                subject=subject,
                body=body,
                status=MessageStatus.SENT,
                attempts=1,
                due_at=at,
                created_at=at,
                sent_at=at,
                channel=Channel.EMAIL,
                link_id=link.id,
                automation_id=automation.id,
                story_id=about.id if about else None,
            )
        )


# Demo candidates HR send the link to by email at every start, so a newcomer sees messages go out.
EMAILED_AT_START = ("demo-just-passed@example.com", "demo-quiet@example.com")


def load_demo(now: datetime | None = None) -> list[str]:
    """Seed an empty database, then issue fresh links for the demo candidates and queue two emails with the
    link, sent by the demo's HR user (urgent: at once, unless it is night); returns lines to print."""
    now = now or utcnow()
    if db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0:
        seed(now)
    lines = []
    waiting = sa.select(WaitlistEntry.candidate_id).order_by(WaitlistEntry.passed_at).limit(1).scalar_subquery()
    more_states = (
        (Candidate.id == waiting, "on the waitlist of a full cohort"),
        (Candidate.email == "demo-cancelled@example.com", "their cohort was cancelled"),
    )
    for condition, state in [*((Candidate.email == email, state) for email, state in DEMO_STATES), *more_states]:
        candidate = db.session.scalars(sa.select(Candidate).where(condition)).first()
        if candidate is None:
            continue
        _link, token = issue_link(candidate, Channel.CLI, revoke_others=True, now=now)
        lines.append(f"  {state:<40} {public_link_url(token)}")
    hr = db.session.scalars(sa.select(User).where(User.email == DEMO_USERS[0][0])).one()
    lines += ["", "Emails with the link, sent by HR just now (every message: /admin/outbox):"]
    for email in EMAILED_AT_START:
        candidate = db.session.scalars(sa.select(Candidate).where(Candidate.email == email)).one()
        row = send_link_by_hand(candidate, actor_id=hr.id, request_key=f"demo-{now.isoformat()}", urgent=True, now=now)
        assert row is not None  # a new key each start
        when = "now" if row.due_at <= now else f"at {row.due_at:%H:%M} UTC (it is night where the office is)"
        lines.append(f"  to {email}: goes {when}")
    db.session.commit()
    return lines
