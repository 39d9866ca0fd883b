"""The assignment service (capacity, waitlist, moves), changes told to members, and calendars that follow."""

import re
import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from icalendar import Calendar

from portal.candidate.calendar import candidate_calendar
from portal.extensions import db
from portal.models import AuditEvent, Candidate, CohortSession, Outbox, WaitlistEntry, utcnow
from portal.models.outbox import MessageKind
from portal.services.cohorts import (
    CohortError,
    Placement,
    cancel_cohort,
    confirm_attendance,
    members_count,
    place_in_cohort,
    save_cohort,
)
from portal.services.curriculum import copy_curriculum, remove_session, save_session
from portal.services.importing import check_rows, import_rows, propose_mapping, read_sheet
from portal.services.leaving import mark_left
from portal.services.links import find_calendar_feed, issue_calendar_feed
from portal.services.stages import StageError, move_to_stage
from tests.builders import gen_candidate, gen_cohort, gen_reasons, gen_user, open_page

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
EN = {"Accept-Language": "en"}


@pytest.fixture
def hr(app):
    with force_locale("en"):  # refusals read in English here
        yield gen_user("admin", name="Admin")


def person(site, name: str, passed_days_ago: float = 10, **fields) -> Candidate:
    return gen_candidate(
        site, [("passed", NOW - timedelta(days=passed_days_ago))], name=name, email=f"{name}@example.com", **fields
    )


def training_messages(candidate: Candidate) -> list[Outbox]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(Outbox)
            .where(Outbox.candidate_id == candidate.id, Outbox.kind == MessageKind.TRAINING_CHANGE)
            .order_by(Outbox.id)
        )
    )


def history(candidate: Candidate, action: str) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent.detail)
            .where(
                AuditEvent.object_id == candidate.id, AuditEvent.object_type == "candidate", AuditEvent.action == action
            )
            .order_by(AuditEvent.id)
        )
    )


def test_a_full_cohort_waitlists_in_the_order_people_passed_and_a_freed_place_goes_to_the_first(app, site, hr):
    gen_reasons()
    cohort = gen_cohort(date(2026, 12, 14), capacity=2)
    first, second = person(site, "一号"), person(site, "二号")
    late, early = person(site, "晚通过", passed_days_ago=2), person(site, "早通过", passed_days_ago=20)
    assert place_in_cohort(first, cohort.id, actor_id=hr.id, now=NOW) == Placement.PLACED
    assert place_in_cohort(second, cohort.id, actor_id=hr.id, now=NOW) == Placement.PLACED
    assert place_in_cohort(late, cohort.id, actor_id=hr.id, now=NOW) == Placement.WAITLISTED
    assert place_in_cohort(early, cohort.id, actor_id=hr.id, now=NOW) == Placement.WAITLISTED
    assert place_in_cohort(early, cohort.id, actor_id=hr.id, now=NOW) == Placement.UNCHANGED  # waiting already
    db.session.commit()
    assert (late.cohort_id, early.cohort_id, members_count(cohort.id)) == (None, None, 2)

    reason = db.session.scalars(sa.select(db.metadata.tables["reason"].c.id)).first()
    mark_left(first, kind="declined", reason_id=reason, actor=hr, now=NOW)
    db.session.commit()
    db.session.expire_all()
    assert early.cohort_id == cohort.id and late.cohort_id is None  # passed first, placed first
    [told] = training_messages(early)
    assert told.subject == "A place in training is yours" or "培训名额" in told.subject
    assert told.essential and told.cohort_id == cohort.id
    assert history(early, "cohort.assign") == [f"cohort {cohort.id}: a place freed on the waitlist"]
    assert db.session.scalars(sa.select(WaitlistEntry.candidate_id)).all() == [late.id]


def test_move_writes_one_history_entry_and_one_essential_message_and_confirmations_start_again(app, site, hr):
    december, january = gen_cohort(date(2026, 12, 14)), gen_cohort(date(2027, 1, 11), name="January")
    candidate = person(site, "李娜", cohort=december)
    assert confirm_attendance(candidate.id, now=NOW) and not confirm_attendance(candidate.id, now=NOW)
    db.session.commit()
    assert place_in_cohort(candidate, january.id, actor_id=hr.id, now=NOW) == Placement.PLACED
    assert place_in_cohort(candidate, january.id, actor_id=hr.id, now=NOW) == Placement.UNCHANGED
    db.session.commit()
    assert history(candidate, "cohort.assign") == [f"cohort {january.id}"]
    [moved] = training_messages(candidate)
    assert (moved.essential, moved.cohort_id, moved.status) == (True, january.id, "queued")
    assert "January" in moved.body and "{portal_link}" in moved.body
    assert candidate.attendance_confirmed_at is None  # they confirmed December, not January


def test_refusals_change_nothing(app, site, hr):
    cohort = gen_cohort(date(2026, 12, 14), capacity=2)
    ended = gen_cohort(date(2026, 11, 2), name="November")
    candidate = person(site, "王小明")
    with pytest.raises(CohortError, match="ended"):
        place_in_cohort(candidate, ended.id, actor_id=hr.id, now=NOW)
    place_in_cohort(person(site, "占位"), cohort.id, actor_id=hr.id, now=NOW)
    place_in_cohort(person(site, "占位二"), cohort.id, actor_id=hr.id, now=NOW)
    db.session.commit()
    with pytest.raises(CohortError, match="full"):
        place_in_cohort(candidate, cohort.id, actor_id=hr.id, now=NOW, waitlist=False)
    # A stage that needs a cohort is refused a full one: it needs a place, not a waitlist.
    move_to_stage(candidate, site["background_check"], actor=hr, now=NOW)
    with pytest.raises(StageError, match="full"):
        move_to_stage(candidate, site["training_notice"], actor=hr, now=NOW, cohort_id=cohort.id)
    db.session.rollback()
    assert candidate.cohort_id is None and members_count(cohort.id) == 2
    with pytest.raises(CohortError, match="2 people are in it already"):
        save_cohort(cohort, {**_values(cohort), "capacity": 1}, actor_id=hr.id, now=NOW)
    with pytest.raises(CohortError, match="whole number from 1"):
        save_cohort(cohort, {**_values(cohort), "capacity": 0}, actor_id=hr.id, now=NOW)


def _values(cohort) -> dict:
    from portal.services.cohorts import COHORT_FIELDS

    return {field: getattr(cohort, field) for field in COHORT_FIELDS}


def test_two_concurrent_placements_for_the_last_place_one_wins_one_waits(app, site, hr):
    """The first placement holds the cohort's row until it commits; the second waits for it, then counts the
    place as taken. Run on SQLite and on PostgreSQL by the CI."""
    cohort = gen_cohort(date(2026, 12, 14), capacity=1)
    ids = [person(site, "甲").id, person(site, "乙").id]
    hr_id = hr.id
    placed_first = threading.Event()
    may_commit = threading.Event()
    outcomes: dict[int, Placement] = {}

    def place(candidate_id: int, first: bool) -> None:
        with app.app_context():
            try:
                candidate = db.session.get_one(Candidate, candidate_id)
                outcomes[candidate_id] = place_in_cohort(candidate, cohort.id, actor_id=hr_id, now=NOW)
                if first:
                    placed_first.set()
                    may_commit.wait(10)
                db.session.commit()
            finally:
                db.session.remove()

    one = threading.Thread(target=place, args=(ids[0], True))
    one.start()
    assert placed_first.wait(10)
    two = threading.Thread(target=place, args=(ids[1], False))
    two.start()
    two.join(0.5)
    assert two.is_alive(), "the second placement must wait for the first's transaction"
    may_commit.set()
    one.join(10)
    two.join(10)
    assert outcomes == {ids[0]: Placement.PLACED, ids[1]: Placement.WAITLISTED}
    db.session.expire_all()
    assert members_count(cohort.id) == 1
    assert db.session.scalars(sa.select(WaitlistEntry.candidate_id)).all() == [ids[1]]


def test_cancel_tells_each_member_once_and_empties_the_waitlist(app, site, hr):
    cohort = gen_cohort(date(2026, 12, 14), capacity=1)
    member, waiting = person(site, "成员", cohort=cohort), person(site, "候补")
    place_in_cohort(waiting, cohort.id, actor_id=hr.id, now=NOW)
    assert cancel_cohort(cohort, actor_id=hr.id, now=NOW) == 1
    assert cancel_cohort(cohort, actor_id=hr.id, now=NOW) == 0
    db.session.commit()
    [told] = training_messages(member)
    assert told.essential and told.cohort_id == cohort.id
    assert history(member, "cohort.cancelled") == [f"cohort {cohort.id}"]
    assert training_messages(waiting) == [] and db.session.scalars(sa.select(WaitlistEntry)).all() == []
    with pytest.raises(CohortError, match="cancelled"):
        place_in_cohort(person(site, "新人"), cohort.id, actor_id=hr.id, now=NOW)


def test_rescheduling_moves_the_sessions_tells_members_once_and_asks_them_to_confirm_again(app, site, hr):
    cohort = gen_cohort(date(2026, 12, 14))
    member = person(site, "成员", cohort=cohort)
    confirm_attendance(member.id, now=NOW)
    first_session = db.session.scalars(sa.select(CohortSession).order_by(CohortSession.starts_at)).first()
    before = first_session.starts_at
    save_cohort(
        cohort,
        {**_values(cohort), "starts_on": date(2026, 12, 21), "ends_on": date(2026, 12, 23)},
        actor_id=hr.id,
        now=NOW,
    )
    save_cohort(cohort, {**_values(cohort), "bring_zh": "身份证和笔"}, actor_id=hr.id, now=NOW)  # not a change to tell
    db.session.commit()
    db.session.expire_all()
    assert first_session.starts_at == before + timedelta(days=7)
    assert cohort.previous_starts_on == date(2026, 12, 14) and cohort.revision == 1
    [told] = training_messages(member)
    assert "2026" in told.body and member.attendance_confirmed_at is None
    assert history(member, "cohort.changed") == [f"cohort {cohort.id}: dates"]


def feed(candidate: Candidate, now=NOW) -> dict[str, tuple[int, str, datetime]]:
    """UID -> (SEQUENCE, STATUS, DTSTART) of the candidate's calendar, parsed with the icalendar library."""
    db.session.expire_all()
    with force_locale("en"):
        parsed = Calendar.from_ical(candidate_calendar(candidate.id, now))
    return {
        str(event["UID"]): (int(event["SEQUENCE"]), str(event["STATUS"]), event.decoded("DTSTART"))
        for event in parsed.walk("VEVENT")
    }


def test_the_calendar_keeps_each_uid_raises_sequence_on_change_and_cancels_the_old_cohort_after_a_move(app, site, hr):
    december, january = gen_cohort(date(2026, 12, 14), days=2), gen_cohort(date(2027, 1, 11), name="January", days=2)
    candidate = person(site, "李娜", cohort=december)
    before = feed(candidate)
    sessions = {uid: status for uid, (_, status, _) in before.items()}
    assert len(before) == 3  # two sessions and the all-day event, cancelled since sessions are planned
    assert sorted(sessions.values()) == ["CANCELLED", "CONFIRMED", "CONFIRMED"]
    assert all(uid.startswith(f"keepwarm-{candidate.id}-") for uid in before)
    assert feed(candidate) == {uid: (seq, status, start) for uid, (seq, status, start) in before.items()}  # stable

    # A session changed: same UIDs, a higher SEQUENCE.
    session = db.session.scalars(sa.select(CohortSession).where(CohortSession.cohort_id == december.id)).first()
    save_session(
        december,
        session,
        {"day": date(2026, 12, 15), "start": time(13), "end": time(17), "title_zh": "下午"},
        actor_id=hr.id,
        now=NOW,
    )
    db.session.commit()
    after = feed(candidate)
    assert after.keys() == before.keys()
    assert all(after[uid][0] > before[uid][0] for uid in before)

    # Moved to January: December's events stay, cancelled, with a higher SEQUENCE still; January's come.
    place_in_cohort(candidate, january.id, actor_id=hr.id, now=NOW)
    db.session.commit()
    moved = feed(candidate)
    assert set(before) < set(moved)
    assert all(moved[uid][1] == "CANCELLED" and moved[uid][0] > after[uid][0] for uid in before)
    new = {uid: value for uid, value in moved.items() if uid not in before}
    assert sorted(status for _, status, _ in new.values()) == ["CANCELLED", "CONFIRMED", "CONFIRMED"]

    # A session removed from January's curriculum is sent as cancelled, under its own UID.
    gone = db.session.scalars(sa.select(CohortSession).where(CohortSession.cohort_id == january.id)).first()
    remove_session(january, gone, actor_id=hr.id, now=NOW)
    db.session.commit()
    assert feed(candidate)[f"keepwarm-{candidate.id}-session-{gone.id}@localhost"][1] == "CANCELLED"


def test_a_subscription_token_works_until_their_links_are_revoked(app, site, hr):
    gen_reasons()
    candidate = person(site, "李娜", cohort=gen_cohort(date(2026, 12, 14)))
    token = issue_calendar_feed(candidate, now=NOW)
    db.session.commit()
    assert find_calendar_feed(token, NOW) == candidate.id
    assert find_calendar_feed(token + "x", NOW) is None
    assert find_calendar_feed(token, NOW + timedelta(days=400)) is None  # expired as their link would be
    reason = db.session.scalars(sa.select(db.metadata.tables["reason"].c.id)).first()
    mark_left(candidate, kind="declined", reason_id=reason, actor=hr, now=NOW)
    db.session.commit()
    assert find_calendar_feed(token, NOW) is None


def test_copying_a_curriculum_lands_each_session_on_the_same_working_day_of_the_new_cohort(app, site, hr):
    source = gen_cohort(date(2026, 12, 14), days=2)  # Monday, Tuesday
    target = gen_cohort(date(2027, 1, 11), days=0, name="January")
    target.ends_on = date(2027, 1, 15)
    copied, left_out = copy_curriculum(source, target, actor_id=hr.id, now=NOW)
    db.session.commit()
    assert (copied, left_out) == (2, 0)
    got = db.session.scalars(
        sa.select(CohortSession).where(CohortSession.cohort_id == target.id).order_by(CohortSession.starts_at)
    ).all()
    assert [s.starts_at.astimezone(SHANGHAI).date() for s in got] == [date(2027, 1, 11), date(2027, 1, 12)]
    with pytest.raises(CohortError, match="has sessions already"):
        copy_curriculum(source, target, actor_id=hr.id, now=NOW)


def test_a_candidate_confirms_in_one_tap_with_and_without_htmx_and_subscribes_their_calendar(app, site):
    cohort = gen_cohort()  # in ten days, by the real clock the pages read
    plain, scripted = person(site, "无脚本", cohort=cohort), person(site, "有脚本", cohort=cohort)
    client = app.test_client()
    assert "I will be there" in open_page(client, plain, **EN).get_data(as_text=True)
    answer = client.post("/me/attendance", headers=EN)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/me#attendance")
    assert "You confirmed you will be there" in client.get("/me", headers=EN).get_data(as_text=True)

    other = app.test_client()
    open_page(other, scripted)
    fragment = other.post("/me/attendance", headers={**EN, "HX-Request": "true"}).get_data(as_text=True)
    assert fragment.startswith('<section class="card" id="attendance"') and "You confirmed" in fragment
    db.session.expire_all()
    assert plain.attendance_confirmed_at and scripted.attendance_confirmed_at

    page = other.post("/me/calendar/subscribe", headers=EN)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    url = re.search(r'value="(https?://[^"]+/cal/[^"]+\.ics)"', page.get_data(as_text=True)).group(1)
    assert f'href="webcal://{url.split("://", 1)[1]}"' in page.get_data(as_text=True)
    fetched = app.test_client().get(url.split("localhost", 1)[1])  # no cookie: the token is the key
    assert fetched.status_code == 200 and fetched.mimetype == "text/calendar"
    assert len(Calendar.from_ical(fetched.data).walk("VEVENT")) == 4
    assert app.test_client().get("/cal/not-a-token.ics").status_code == 404


def test_an_import_fills_a_cohort_up_to_its_places_and_refuses_the_rows_beyond(app, site, hr):
    cohort = gen_cohort(name="一月班", capacity=3)  # by the real clock: the import checks it has not ended
    person(site, "已在班", cohort=cohort)
    gen_candidate(site, [("passed", NOW)], name="重复", phone="+8613900000009")  # already here: takes no place
    lines = ["姓名,手机,培训批次", "重复,13900000009,一月班"] + [f"新人{n},1390000001{n},一月班" for n in range(3)]
    sheet = read_sheet("people.csv", "\n".join(lines).encode())
    rows = check_rows(sheet, propose_mapping(sheet.header), actor=None, now=utcnow())
    assert [row.valid for row in rows] == [True, True, True, False]
    assert "一月班 is full (3 places)" in rows[-1].errors[0]
    report = import_rows(rows, actor=None, now=utcnow(), skip_invalid=True)
    db.session.commit()
    assert report.imported == 2 and members_count(cohort.id) == 3


def test_new_dates_keep_each_session_on_its_working_day_and_remove_those_past_the_last(app, site, hr):
    cohort = gen_cohort(date(2026, 12, 17), days=3)  # Thursday, Friday, Saturday (a rest day: the third is extra)
    save_cohort(
        cohort,
        {**_values(cohort), "starts_on": date(2026, 12, 21), "ends_on": date(2026, 12, 22)},
        actor_id=hr.id,
        now=NOW,
    )
    db.session.commit()
    sessions = db.session.scalars(sa.select(CohortSession).order_by(CohortSession.id)).all()
    days = [(s.starts_at.astimezone(SHANGHAI).date(), s.removed_at is not None) for s in sessions]
    # Thursday's session on Monday, Friday's on Tuesday; Saturday's counts as Friday's working day: no day left.
    assert days[:2] == [(date(2026, 12, 21), False), (date(2026, 12, 22), False)]
    assert days[2][1] is True


def test_a_bulk_placement_waits_for_another_placement_instead_of_failing(app, site, hr):
    """The bulk action places each row in a savepoint: its transaction must take the write lock before it reads,
    or SQLite refuses its write at once when another placement committed in between ("database is locked")."""
    from portal.services.bulk import BulkAction, BulkOutcome, apply_bulk

    cohort, other = gen_cohort(date(2026, 12, 14), capacity=1), gen_cohort(date(2026, 12, 21), name="Other")
    first, second = person(site, "先到"), person(site, "后到")
    ids, hr_id = (first.id, second.id), hr.id
    holding, may_commit, outcomes = threading.Event(), threading.Event(), {}

    def hold_then_commit() -> None:
        with app.app_context():
            try:
                place_in_cohort(db.session.get_one(Candidate, ids[0]), cohort.id, actor_id=hr_id, now=NOW)
                holding.set()
                may_commit.wait(10)
                db.session.commit()
            finally:
                db.session.remove()

    def bulk() -> None:
        with app.app_context():
            try:
                actor = db.session.get_one(type(hr), hr_id)
                people = [db.session.get_one(Candidate, ids[1])]
                result = apply_bulk(BulkAction.COHORT, [ids[1]], people, actor=actor, now=NOW, cohort_id=other.id)
                db.session.commit()
                outcomes["bulk"] = result.rows[0].outcome
            finally:
                db.session.remove()

    holder = threading.Thread(target=hold_then_commit)
    holder.start()
    assert holding.wait(10)
    worker = threading.Thread(target=bulk)
    worker.start()
    worker.join(0.3)
    may_commit.set()
    holder.join(10)
    worker.join(10)
    assert outcomes == {"bulk": BulkOutcome.DONE}
    db.session.expire_all()
    assert (db.session.get(Candidate, ids[0]).cohort_id, db.session.get(Candidate, ids[1]).cohort_id) == (
        cohort.id,
        other.id,
    )
