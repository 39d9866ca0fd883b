"""Candidates answer back (services.threads): questions and requests become tasks that escalate by the work
calendar and never move the tier; HR's answers move or keep the candidate and tell them exactly once; the
candidate's forms with and without htmx, limited, escaped and kind."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from portal.extensions import db
from portal.models import Candidate, Flag, Outbox, Reason, Store, ThreadMessage
from portal.models.flags import TaskRule, derived_tier
from portal.models.outbox import LINK_PLACEHOLDER, MessageKind
from portal.models.threads import AskState, Topic
from portal.services.leaving import mark_left
from portal.services.scan import run_scan
from portal.services.threads import ThreadError, accept_request, answer_question, ask, decline_request
from portal.services.worktime import WorkCalendar
from tests.builders import gen_candidate, gen_cohort, gen_reasons, gen_site, gen_user, open_page, signed_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
EN = {"Accept-Language": "en"}


def at(text: str) -> datetime:
    """A Shanghai wall-clock time as UTC: at("2026-10-08 11:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def site(app):
    gen_reasons()
    return gen_site()


@pytest.fixture
def hr(app):
    with force_locale("en"):  # refusals read in English here
        yield gen_user("hr", name="Li HR")


def person(site, hr, name="王小明", passed=None, **fields) -> Candidate:
    passed = passed or datetime.now(UTC) - timedelta(days=5)
    return gen_candidate(site, [("passed", passed)], name=name, owner=hr, email=f"{name}@example.com", **fields)


def task_flag(candidate: Candidate, rule: str = TaskRule.QUESTION) -> Flag | None:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(Flag).where(Flag.candidate_id == candidate.id, Flag.rule == rule, Flag.resolved_at.is_(None))
    ).first()


def scan(now: datetime) -> None:
    run_scan(now)
    db.session.commit()


def messages_to(candidate: Candidate) -> list[Outbox]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Outbox).where(Outbox.candidate_id == candidate.id).order_by(Outbox.id)))


def first_reason() -> Reason:
    return db.session.scalars(sa.select(Reason).order_by(Reason.position)).first()


# ------------------------------------------------------------------------------------------------
# The clock: working hours by the work calendar
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "asked, just_before, urgent_at",
    [
        # Two working hours on Wednesday, then National Day week (a holiday with its weekend), back Thursday the 8th.
        ("2026-09-30 16:00", "2026-10-08 10:59", "2026-10-08 11:00"),
        # Friday 16:30: one and a half hours, the weekend, then Monday morning.
        ("2026-12-04 16:30", "2026-12-07 11:29", "2026-12-07 11:30"),
        # Asked on Saturday: nothing counts until Monday 09:00.
        ("2026-12-05 10:00", "2026-12-07 12:59", "2026-12-07 13:00"),
    ],
)
def test_a_question_escalates_at_exactly_four_working_hours(site, hr, asked, just_before, urgent_at):
    candidate = person(site, hr, passed=at(asked) - timedelta(days=2))
    ask(candidate, Topic.QUESTION, body="培训要带什么？", now=at(asked))
    db.session.commit()
    flag = task_flag(candidate)
    assert flag is not None and flag.severity == "warning"  # a task at once
    scan(at(just_before))
    assert task_flag(candidate).severity == "warning"
    scan(at(urgent_at))
    escalated = task_flag(candidate)
    assert escalated.severity == "urgent" and escalated.urgent_since == at(urgent_at)
    assert WorkCalendar(at(urgent_at)).working_time_between(at(asked), at(urgent_at)) == timedelta(hours=4)


def test_an_unanswered_question_escalates_again_after_48_hours(site, hr):
    candidate = person(site, hr)
    asked = at("2026-12-02 10:00")
    ask(candidate, Topic.QUESTION, body="还在吗？", now=asked)
    db.session.commit()
    scan(asked + timedelta(hours=47, minutes=59))
    assert task_flag(candidate).overdue_since is None
    scan(asked + timedelta(hours=48))
    assert task_flag(candidate).overdue_since == asked + timedelta(hours=48)


@pytest.mark.parametrize(
    "now, expected",
    [
        ("2026-12-02 10:30", None),  # a Wednesday at work: no promise needed
        ("2026-12-02 07:30", "2026-12-02 09:00"),  # early: this morning
        ("2026-12-04 19:00", "2026-12-07 09:00"),  # Friday evening: Monday
        ("2026-10-09 18:30", "2026-10-10 09:00"),  # Friday evening before a make-up Saturday: Saturday
        ("2026-09-30 20:00", "2026-10-08 09:00"),  # the eve of National Day week
    ],
)
def test_after_hours_the_candidate_is_told_the_next_working_morning(site, hr, now, expected):
    candidate = person(site, hr, passed=at(now) - timedelta(days=2))
    asked = ask(candidate, Topic.QUESTION, body="明天几点到？", now=at(now))
    assert asked.answer_from == (at(expected) if expected else None)


def test_the_page_names_the_next_working_morning_in_the_candidates_language(app, client, site, hr):
    """Asked now, whenever the suite runs: the page promises exactly what the calendar says."""
    candidate = person(site, hr)
    now = datetime.now(UTC)
    page = open_page(client, candidate, **EN)
    client.post("/me/ask", data={"topic": "question", "body": "When?"}, headers=EN)
    page = client.get("/me", headers=EN).get_data(as_text=True)
    opens = WorkCalendar(now).working_from(now)
    if opens > now + timedelta(minutes=1):
        assert "HR are not at work now: expect an answer from" in page
    else:
        assert "HR are not at work now" not in page


# ------------------------------------------------------------------------------------------------
# Tasks never move the tier
# ------------------------------------------------------------------------------------------------


def test_task_flags_never_change_the_tier(site, hr):
    """Two quiet candidates alike but for the questions one of them asks, and a calm one who asks: the asker's
    tier is always the twin's, and the calm one stays A through every escalation of the task."""
    last_seen = at("2026-11-28 10:00")
    asker, twin = (person(site, hr, name=name, last_seen_at=last_seen) for name in ("问的人", "双胞胎"))
    calm = person(site, hr, name="没风险", last_seen_at=at("2026-12-31 09:00"))  # visits all along
    for who in (asker, calm):
        ask(who, Topic.QUESTION, body="问一下", now=at("2026-12-02 10:00"))
    db.session.commit()

    def tiers(now):
        scan(now)
        db.session.expire_all()
        return [db.session.scalar(sa.select(derived_tier(who.id, now))) for who in (asker, twin, calm)]

    assert tiers(at("2026-12-02 10:01")) == ["B", "B", "A"]  # quiet for four days: a warning each
    assert tiers(at("2026-12-03 10:00")) == ["B", "B", "A"]
    assert task_flag(calm).severity == "urgent"
    assert tiers(at("2026-12-05 11:00")) == ["C", "C", "A"]  # quiet for a week: urgent
    assert task_flag(asker).overdue_since is not None
    assert tiers(at("2026-12-13 10:00")) == ["D", "D", "A"]  # urgent for a week


def test_a_task_cannot_be_resolved_or_snoozed_from_the_queue_only_answered(client, site, hr):
    from portal.services.flags import FlagActionError, resolve_flag, snooze_flag

    candidate = person(site, hr)
    ask(candidate, Topic.QUESTION, body="问", now=at("2026-12-02 10:00"))
    db.session.commit()
    flag = task_flag(candidate)
    with pytest.raises(FlagActionError):
        resolve_flag(flag, hr, outcome="reassured", note="", now=at("2026-12-02 11:00"))
    with pytest.raises(FlagActionError):
        snooze_flag(flag, hr, until=at("2026-12-03 09:00"), now=at("2026-12-02 11:00"))


# ------------------------------------------------------------------------------------------------
# HR answer: move or keep, and tell exactly once
# ------------------------------------------------------------------------------------------------


def test_accepting_another_date_moves_them_and_tells_them_once(site, hr):
    december, january = (
        gen_cohort(name="12月班"),
        gen_cohort(name="1月班", starts_on=datetime.now(UTC).date() + timedelta(days=40)),
    )
    candidate = person(site, hr, cohort=december)
    now = datetime.now(UTC)
    request = ask(
        candidate,
        Topic.ANOTHER_DATE,
        body="家里有事",
        reason_id=first_reason().id,
        preferred_cohort_id=january.id,
        now=now,
    ).message
    db.session.commit()
    assert task_flag(candidate, TaskRule.REQUEST) is not None
    before = len(messages_to(candidate))

    accept_request(request, hr, cohort_id=january.id, body="好的，1月见", now=now)
    db.session.commit()
    assert db.session.get(Candidate, candidate.id).cohort_id == january.id
    told = messages_to(candidate)[before:]
    assert [m.kind for m in told] == [MessageKind.TRAINING_CHANGE]  # the move's own message, nothing more
    assert "好的，1月见" in told[0].body  # with HR's word in it
    assert request.state == AskState.ACCEPTED and task_flag(candidate, TaskRule.REQUEST) is None

    with pytest.raises(ThreadError):  # a second tap, or a colleague at the same moment
        accept_request(request, hr, cohort_id=december.id, now=now)
    db.session.rollback()
    assert len(messages_to(candidate)) == before + 1
    assert db.session.get(Candidate, candidate.id).cohort_id == january.id


def test_declining_keeps_them_where_they_are_and_tells_them_once(site, hr):
    december, january = (
        gen_cohort(name="12月班"),
        gen_cohort(name="1月班", starts_on=datetime.now(UTC).date() + timedelta(days=40)),
    )
    candidate = person(site, hr, cohort=december)
    now = datetime.now(UTC)
    request = ask(candidate, Topic.ANOTHER_DATE, body="", reason_id=first_reason().id, now=now).message
    db.session.commit()
    with pytest.raises(ThreadError):
        decline_request(request, hr, "   ", now=now)  # they must be told why
    db.session.rollback()
    decline_request(request, hr, "1月班已满，12月班见！", now=now)
    db.session.commit()
    assert db.session.get(Candidate, candidate.id).cohort_id == december.id
    told = messages_to(candidate)
    assert [m.kind for m in told] == [MessageKind.HR_REPLY]
    assert "1月班已满，12月班见！" in told[0].body and LINK_PLACEHOLDER in told[0].body
    with pytest.raises(ThreadError):
        decline_request(request, hr, "again", now=now)
    db.session.rollback()
    assert len(messages_to(candidate)) == 1
    assert january.id != db.session.get(Candidate, candidate.id).cohort_id


def test_accepting_a_nearer_store_assigns_it_and_tells_them_once(site, hr):
    far, near = (
        Store(name="远店", district="嘉定区", open_places=3),
        Store(name="近店", district="浦东新区", open_places=3),
    )
    db.session.add_all([far, near])
    db.session.commit()
    candidate = person(site, hr, store_id=far.id)
    now = datetime.now(UTC)
    request = ask(candidate, Topic.STORE_TOO_FAR, body="太远了", district="浦东新区", now=now).message
    db.session.commit()
    accept_request(request, hr, store_id=near.id, now=now)
    db.session.commit()
    assert db.session.get(Candidate, candidate.id).store_id == near.id
    told = messages_to(candidate)
    assert [m.kind for m in told] == [MessageKind.HR_REPLY] and "近店" in told[0].body


def test_answering_a_question_sends_it_once_as_essential_and_closes_the_task(site, hr):
    candidate = person(site, hr)
    question = ask(candidate, Topic.QUESTION, body="要穿工服吗？", now=at("2026-12-05 22:00")).message  # Saturday night
    db.session.commit()
    reply = answer_question(question, hr, "不用，穿舒适的鞋子。", now=at("2026-12-06 10:00"))  # Sunday morning
    db.session.commit()
    told = messages_to(candidate)
    assert [m.kind for m in told] == [MessageKind.HR_REPLY]
    assert told[0].due_at == at("2026-12-06 10:00")  # essential: a Sunday is fine, the night is not
    assert reply.answers_id == question.id and question.state == AskState.ANSWERED
    assert task_flag(candidate) is None
    with pytest.raises(ThreadError):
        answer_question(question, hr, "again", now=at("2026-12-06 10:05"))
    db.session.rollback()
    assert len(messages_to(candidate)) == 1


def test_one_answered_question_of_two_leaves_the_task_on_the_other(site, hr):
    candidate = person(site, hr)
    first = ask(candidate, Topic.QUESTION, body="一", now=at("2026-12-02 09:00")).message
    ask(candidate, Topic.QUESTION, body="二", now=at("2026-12-02 16:00"))
    db.session.commit()
    scan(at("2026-12-02 14:00"))
    assert task_flag(candidate).severity == "urgent"
    answer_question(first, hr, "好", now=at("2026-12-02 16:30"))
    db.session.commit()
    flag = task_flag(candidate)
    assert flag.evidence_at == at("2026-12-02 16:00") and flag.severity == "warning"  # the second one's clock


# ------------------------------------------------------------------------------------------------
# What the candidate may send
# ------------------------------------------------------------------------------------------------


def test_requests_are_checked_and_refusals_change_nothing(site, hr):
    reason = first_reason()
    full = gen_cohort(name="满班", capacity=0, starts_on=datetime.now(UTC).date() + timedelta(days=40))
    mine = gen_cohort(name="我的班")
    candidate = person(site, hr, cohort=mine)
    now = datetime.now(UTC)
    refusals = [
        {"topic": Topic.ANOTHER_DATE, "reason_id": None},
        {"topic": Topic.ANOTHER_DATE, "reason_id": reason.id, "preferred_cohort_id": full.id},
        {"topic": Topic.STORE_TOO_FAR, "district": "浦东"},  # no store yet
        {"topic": Topic.QUESTION, "body": "  \n "},
        {"topic": Topic.QUESTION, "body": "字" * 1001},
    ]
    for refused in refusals:
        with pytest.raises(ThreadError):
            ask(candidate, body=refused.pop("body", ""), now=now, **refused)
        db.session.rollback()
    reason.retired_at = now
    db.session.commit()
    with pytest.raises(ThreadError):
        ask(candidate, Topic.ANOTHER_DATE, body="", reason_id=reason.id, now=now)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ThreadMessage)) == 0
    ask(candidate, Topic.QUESTION, body="字" * 1000, now=now)  # exactly the limit


def test_one_waiting_request_of_each_kind(site, hr):
    candidate = person(site, hr, cohort=gen_cohort())
    now = datetime.now(UTC)
    ask(candidate, Topic.ANOTHER_DATE, body="", reason_id=first_reason().id, now=now)
    with pytest.raises(ThreadError, match="asked already"):
        ask(candidate, Topic.ANOTHER_DATE, body="", reason_id=first_reason().id, now=now)


def test_a_candidate_may_send_a_few_messages_an_hour_then_is_told_kindly(app, client, site, hr):
    app.config["THREAD_MESSAGES_PER_HOUR"] = 3
    candidate = person(site, hr)
    open_page(client, candidate, **EN)
    for n in range(3):
        assert client.post("/me/ask", data={"topic": "question", "body": f"问题 {n}"}, headers=EN).status_code == 303
    refused = client.post("/me/ask", data={"topic": "question", "body": "第四个问题"}, headers=EN)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "HR have your messages and will answer them. You can write again at" in page
    assert "第四个问题" in page  # what was typed is kept
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ThreadMessage)) == 3


def test_the_question_form_works_without_javascript_and_shows_what_was_typed_escaped(client, site, hr):
    candidate = person(site, hr)
    open_page(client, candidate, **EN)
    typed = '<script>alert("x")</script>\n  第二行'
    answer = client.post("/me/ask", data={"topic": "question", "body": typed}, headers=EN)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/me#ask")
    stored = db.session.scalars(sa.select(ThreadMessage.body)).one()
    assert stored == typed.replace("\r\n", "\n")  # stored as typed
    page = client.get("/me", headers=EN).get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "Waiting for HR&#39;s answer" in page or "Waiting for HR's answer" in page


def test_with_htmx_the_section_is_swapped_and_a_refusal_keeps_the_text(client, site, hr):
    candidate = person(site, hr)
    open_page(client, candidate, **EN)
    htmx = {**EN, "HX-Request": "true"}
    sent = client.post("/me/ask", data={"topic": "question", "body": "几点集合？"}, headers=htmx)
    assert sent.status_code == 200
    section = sent.get_data(as_text=True)
    assert section.lstrip().startswith('<section class="card" id="ask"') and "几点集合？" in section
    too_long = "长" * 1001
    refused = client.post("/me/ask", data={"topic": "question", "body": too_long}, headers=htmx)
    assert refused.status_code == 422 and too_long in refused.get_data(as_text=True)
    assert "At most 1000 characters" in refused.get_data(as_text=True)


def test_an_unknown_topic_is_a_bad_request(client, site, hr):
    open_page(client, person(site, hr), **EN)
    assert client.post("/me/ask", data={"topic": "reply", "body": "冒充HR"}, headers=EN).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ThreadMessage)) == 0


def test_leaving_withdraws_what_waits_and_closes_the_task(site, hr):
    candidate = person(site, hr)
    ask(candidate, Topic.QUESTION, body="问", now=datetime.now(UTC))
    db.session.commit()
    mark_left(candidate, kind="withdrew", reason_id=first_reason().id, actor=hr, now=datetime.now(UTC))
    db.session.commit()
    assert task_flag(candidate) is None
    assert db.session.scalars(sa.select(ThreadMessage.state)).one() == AskState.WITHDRAWN


# ------------------------------------------------------------------------------------------------
# HR's pages
# ------------------------------------------------------------------------------------------------


def test_hr_see_the_thread_answer_on_the_page_and_the_candidate_reads_it(app, site, hr):
    candidate = person(site, hr)
    phone, desk = app.test_client(), signed_in(app.test_client(), hr)
    open_page(phone, candidate, **EN)
    phone.post("/me/ask", data={"topic": "question", "body": "可以带家人吗？"}, headers=EN)
    question = db.session.scalars(sa.select(ThreadMessage)).one()
    page = desk.get(f"/hr/candidates/{candidate.id}", headers=EN).get_data(as_text=True)
    assert "可以带家人吗？" in page and "1 waiting" in page and "of working time" in page
    queue = desk.get("/hr/queue", headers=EN).get_data(as_text=True)
    assert "Question waiting" in queue or "Asked a question" in queue
    assert "Answer on their page" in queue
    answered = desk.post(f"/hr/asks/{question.id}/answer", data={"body": "可以，欢迎。"}, headers=EN)
    assert answered.status_code == 303
    again = desk.post(f"/hr/asks/{question.id}/answer", data={"body": "再说一次"}, headers=EN)
    assert again.status_code == 409 and "answered already" in again.get_data(as_text=True)
    assert "再说一次" in again.get_data(as_text=True)  # kept beside the form
    mine = phone.get("/me", headers=EN).get_data(as_text=True)
    assert "可以，欢迎。" in mine and "Li HR" in mine
    assert len([m for m in messages_to(candidate) if m.kind == MessageKind.HR_REPLY]) == 1


def test_the_queue_puts_the_longest_waiting_task_first(app, site, hr):
    """By the working time each has waited since the oldest thing still unanswered, not since the task was
    raised: 早问的's task was raised on Thursday, but the question left is Saturday's."""
    earlier, friday = person(site, hr, name="早问的"), person(site, hr, name="周五问的")
    thursday = ask(earlier, Topic.QUESTION, body="四", now=at("2026-12-03 10:00")).message
    ask(earlier, Topic.QUESTION, body="六", now=at("2026-12-05 10:00"))
    ask(friday, Topic.QUESTION, body="五", now=at("2026-12-04 17:30"))
    answer_question(thursday, hr, "好", now=at("2026-12-07 09:00"))
    db.session.commit()
    from portal.hr.queries import QueueFilters, queue_page

    monday = at("2026-12-07 10:00")
    order = queue_page(hr, QueueFilters(rule=TaskRule.QUESTION), monday, monday.date(), 1, 25)
    assert [c.name for c in order.items] == ["周五问的", "早问的"]


def test_two_requests_sent_at_the_same_moment_make_one(app, site, hr):
    """A double tap: the first ask holds the candidate's row until it commits, the second then finds it waiting.
    Run on SQLite and on PostgreSQL by the CI."""
    import threading

    candidate_id, reason_id = person(site, hr, cohort=gen_cohort()).id, first_reason().id
    first_asked, may_commit = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def send(name: str, first: bool) -> None:
        with app.app_context(), force_locale("en"):
            try:
                candidate = db.session.get_one(Candidate, candidate_id)
                ask(candidate, Topic.ANOTHER_DATE, body=name, reason_id=reason_id, now=datetime.now(UTC))
                if first:
                    first_asked.set()
                    may_commit.wait(10)
                db.session.commit()
                outcomes[name] = "sent"
            except ThreadError as refused:
                outcomes[name] = str(refused)
            finally:
                db.session.remove()

    one = threading.Thread(target=send, args=("一", True))
    one.start()
    assert first_asked.wait(10)
    two = threading.Thread(target=send, args=("二", False))
    two.start()
    two.join(0.5)
    assert two.is_alive(), "the second ask must wait for the first's transaction"
    may_commit.set()
    one.join(10)
    two.join(10)
    assert outcomes == {"一": "sent", "二": "You asked already: HR will answer that first."}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ThreadMessage)) == 1


def test_with_htmx_hr_answer_in_place_and_a_refusal_keeps_what_they_typed(app, site, hr):
    candidate = person(site, hr, cohort=gen_cohort())
    now = datetime.now(UTC)
    request = ask(candidate, Topic.ANOTHER_DATE, body="", reason_id=first_reason().id, now=now).message
    db.session.commit()
    desk = signed_in(app.test_client(), hr)
    htmx = {**EN, "HX-Request": "true"}
    refused = desk.post(f"/hr/asks/{request.id}/decline", data={"body": "  "}, headers=htmx)
    assert refused.status_code == 422
    section = refused.get_data(as_text=True)
    assert section.lstrip().startswith('<section class="card" id="thread"') and "Tell them why" in section
    declined = desk.post(f"/hr/asks/{request.id}/decline", data={"body": "名额已满"}, headers=htmx)
    assert declined.status_code == 200 and "名额已满" in declined.get_data(as_text=True)
    assert "<html" not in declined.get_data(as_text=True)
    assert [m.kind for m in messages_to(candidate)] == [MessageKind.HR_REPLY]


def test_hr_are_told_in_their_words_what_is_missing(app, site, hr):
    candidate = person(site, hr)
    question = ask(candidate, Topic.QUESTION, body="问", now=datetime.now(UTC)).message
    db.session.commit()
    desk = signed_in(app.test_client(), hr)
    empty = desk.post(f"/hr/asks/{question.id}/answer", data={"body": " "}, headers=EN)
    assert empty.status_code == 422 and "Write your answer first." in empty.get_data(as_text=True)
    assert messages_to(candidate) == []
