"""Admins plan cohorts at /admin/cohorts: the list with its counts and states, a cohort made and changed through
its form (a refusal keeps what was typed and says which field), a reschedule told to members, the curriculum
added to, edited, removed from and copied, cancelling only when ticked, a series previewed and created; HR are
kept out."""

import re
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from markupsafe import escape

from portal.extensions import db
from portal.models import CalendarYear, Cohort, CohortSession, Outbox
from portal.models.calendar import CalendarSource
from portal.models.outbox import MessageKind
from portal.services.cohorts import place_in_cohort
from portal.services.worktime import organisation_date, organisation_zone
from tests.builders import gen_candidate, gen_cohort, gen_user, signed_in
from tests.sqlcount import count_statements

EN = {"Accept-Language": "en"}


@pytest.fixture
def admin(app):
    return gen_user("admin", email="admin@example.com", name="Boss")


@pytest.fixture
def boss(app, client, admin):
    """The test client, signed in as the admin."""
    return signed_in(client, admin)


@pytest.fixture
def plain_weeks(app, now):
    """Published calendars for this year and the next two with no holidays: only weekends rest, whatever the
    holidays package would say, so that working days are predictable."""
    this_year = organisation_date(now).year
    for year in range(this_year, this_year + 3):
        db.session.add(CalendarYear(year=year, source=CalendarSource.FILE, confirmed=True, loaded_at=now))
    db.session.commit()


def monday_after(day: date, weeks: int = 0) -> date:
    return day + timedelta(days=7 - day.weekday() + 7 * weeks)


def form(first: date, days: int = 3, **changes) -> dict:
    values = {
        "name": "March store hires",
        "site": "上海",
        "place_zh": "浦东培训中心",
        "place_en": "Pudong Centre",
        "address": "张杨路 500 号",
        "map_url": "https://uri.amap.com/search?keyword=x",
        "starts_on": first.isoformat(),
        "ends_on": (first + timedelta(days=days - 1)).isoformat(),
        "capacity": "20",
        "bring_zh": "身份证",
        "bring_en": "ID card",
    }
    values.update(changes)
    return values


def cohort_form(cohort: Cohort, **changes) -> dict:
    return form(cohort.starts_on, (cohort.ends_on - cohort.starts_on).days + 1, **{"name": cohort.name, **changes})


def field_error(page: str, input_id: str) -> str:
    """The message beside an input (the input is marked invalid and points at it), or ''."""
    marked = re.search(rf'id="{input_id}"[^>]*aria-invalid="true" aria-describedby="{input_id}-error"', page)
    message = re.search(rf'<span class="error" id="{input_id}-error">([^<]*)</span>', page)
    return message.group(1) if marked and message else ""


def member(site, cohort: Cohort, name: str, now: datetime):
    return gen_candidate(
        site, [("passed", now - timedelta(days=3))], name=name, email=f"{len(name)}{name}@example.com", cohort=cohort
    )


def training_changes(candidate) -> list[Outbox]:
    return list(
        db.session.scalars(
            sa.select(Outbox).where(Outbox.candidate_id == candidate.id, Outbox.kind == MessageKind.TRAINING_CHANGE)
        )
    )


def sessions_of(cohort: Cohort) -> list[CohortSession]:
    """Its sessions still on the curriculum."""
    query = sa.select(CohortSession).where(CohortSession.cohort_id == cohort.id, CohortSession.removed_at.is_(None))
    return list(db.session.scalars(query.order_by(CohortSession.starts_at, CohortSession.id)))


def row_of(page: str, cohort: Cohort) -> str:
    """The list's row of ``cohort``."""
    row = page[page.index(f'<tr id="cohort-{cohort.id}">') :]
    return row[: row.index("</tr>")]


def local(moment: datetime) -> datetime:
    return moment.astimezone(organisation_zone()).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------
# The list.
# --------------------------------------------------------------------------------------------


def test_the_list_puts_the_cohorts_to_come_first_with_their_places_waitlist_and_state(app, site, boss, now):
    today = organisation_date(now)
    later = gen_cohort(today + timedelta(days=40), name="Later", capacity=5)
    full = gen_cohort(today + timedelta(days=10), name="Full", capacity=1)
    ended = gen_cohort(today - timedelta(days=30), name="Ended")
    called_off = gen_cohort(today + timedelta(days=20), name="Called off", status="cancelled")
    later.previous_starts_on = today + timedelta(days=33)
    member(site, full, "占位", now)
    waiting = gen_candidate(site, [("passed", now)], name="候补", email="w@example.com")
    place_in_cohort(waiting, full.id, actor_id=None, now=now)
    db.session.commit()

    page = boss.get("/admin/cohorts", headers=EN).get_data(as_text=True)
    assert re.findall(r'<a href="/admin/cohorts/\d+">([^<]*)</a>', page) == ["Full", "Later"]
    assert 'href="/admin/cohorts/new"' in page and 'href="/admin/cohorts/series"' in page
    full_row, later_row = row_of(page, full), row_of(page, later)
    assert "1 / 1" in full_row and ">full<" in full_row and "1 on the waitlist" in full_row
    assert "0 / 5" in later_row and "open" in later_row and "rescheduled from" in later_row

    page = boss.get("/admin/cohorts?all=1", headers=EN).get_data(as_text=True)
    assert re.findall(r'<a href="/admin/cohorts/\d+">([^<]*)</a>', page) == ["Full", "Called off", "Later", "Ended"]
    assert ">cancelled<" in row_of(page, called_off) and "ended" in row_of(page, ended)


def test_the_list_counts_members_and_waitlists_per_page_not_per_row(app, site, boss, now):
    start = organisation_date(now) + timedelta(days=10)

    def add(count: int) -> None:
        for n in range(count):
            cohort = gen_cohort(start + timedelta(days=n), name=f"C{n}", days=1)
            member(site, cohort, f"人{cohort.id}", now)

    add(1)
    with count_statements() as few:
        assert boss.get("/admin/cohorts").status_code == 200
    add(6)
    with count_statements() as many:
        assert boss.get("/admin/cohorts").status_code == 200
    assert len(few) == len(many), (few, many)


# --------------------------------------------------------------------------------------------
# A cohort's form.
# --------------------------------------------------------------------------------------------


def test_an_admin_creates_a_cohort_through_the_form(app, boss, now):
    starts_on = organisation_date(now) + timedelta(days=30)
    response = boss.post("/admin/cohorts/new", data=form(starts_on, days=5), headers=EN)
    assert response.status_code == 303
    made = db.session.scalars(sa.select(Cohort)).one()
    assert response.headers["Location"].endswith(f"/admin/cohorts/{made.id}")
    assert (made.name, made.starts_on, made.ends_on, made.capacity) == (
        "March store hires",
        starts_on,
        starts_on + timedelta(days=4),
        20,
    )
    assert (made.site, made.place_zh, made.address, made.bring_en) == (
        "上海",
        "浦东培训中心",
        "张杨路 500 号",
        "ID card",
    )
    page = boss.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Cohort created" in page and "0 of 20 places taken" in page


@pytest.mark.parametrize(
    "changes, input_id, message",
    [
        ({"ends_on": "2000-01-01"}, "c-ends", "The last day cannot come before the first."),
        ({"map_url": "javascript:alert(1)"}, "c-map", "A map link must be an http:// or https:// address."),
        ({"starts_on": "next Monday"}, "c-starts", "Write a date, such as 2027-03-01."),
        ({"capacity": "twenty"}, "c-capacity", "Places must be a whole number from 1 to 2000."),
        ({"place_zh": "  "}, "c-place-zh", "Say where the training takes place."),
    ],
)
def test_a_refused_new_cohort_keeps_what_was_typed_and_names_the_field(app, boss, now, changes, input_id, message):
    typed = form(organisation_date(now) + timedelta(days=30), name="Typed <name> & all", **changes)
    response = boss.post("/admin/cohorts/new", data=typed, headers=EN)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(page, input_id) == str(escape(message))
    assert f'value="{escape("Typed <name> & all")}"' in page and "身份证</textarea>" in page
    for name, value in changes.items():
        if name != "place_zh":
            assert f'name="{name}"' in page and f'value="{escape(value)}"' in page
    if changes.get("starts_on") == "next Monday" or changes.get("capacity") == "twenty":
        assert f'name="{next(iter(changes))}" type="text" required value="{next(iter(changes.values()))}"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Cohort)) == 0


def test_places_cannot_go_below_the_members_already_in_it(app, site, boss, now):
    cohort = gen_cohort(organisation_date(now) + timedelta(days=20), capacity=5)
    member(site, cohort, "甲", now)
    member(site, cohort, "乙", now)
    response = boss.post(f"/admin/cohorts/{cohort.id}", data=cohort_form(cohort, capacity="1"), headers=EN)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "c-capacity") == "2 people are in it already: places cannot be fewer."
    assert 'id="c-capacity" name="capacity" type="number" min="1" max="2000" step="1" required value="1"' in page
    db.session.expire_all()
    assert cohort.capacity == 5


def test_new_dates_move_the_sessions_and_each_member_is_told_once(app, site, boss, now):
    cohort = gen_cohort(organisation_date(now) + timedelta(days=20), days=2)
    person = member(site, cohort, "李娜", now)
    before = [session.starts_at for session in sessions_of(cohort)]
    page = boss.get(f"/admin/cohorts/{cohort.id}", headers=EN).get_data(as_text=True)
    assert "1 member is told at once if the dates or the place change" in page

    later = cohort.starts_on + timedelta(days=7)
    response = boss.post(
        f"/admin/cohorts/{cohort.id}",
        data=cohort_form(cohort, starts_on=later.isoformat(), ends_on=(later + timedelta(days=1)).isoformat()),
        headers=EN,  # the notice is written in the language of the request that saves
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert [session.starts_at for session in sessions_of(cohort)] == [moment + timedelta(days=7) for moment in before]
    assert cohort.starts_on == later and cohort.previous_starts_on == later - timedelta(days=7)
    assert len(training_changes(person)) == 1
    page = boss.get(f"/admin/cohorts/{cohort.id}", headers=EN).get_data(as_text=True)
    assert "Its members were told of the new dates or place." in page and "rescheduled from" in page

    # What to bring is no change to tell.
    assert boss.post(f"/admin/cohorts/{cohort.id}", data=cohort_form(cohort, bring_zh="笔")).status_code == 303
    assert len(training_changes(person)) == 1


def test_a_missing_cohort_is_404(app, boss):
    assert boss.get("/admin/cohorts/999999").status_code == 404
    assert boss.post("/admin/cohorts/999999/sessions", data={}).status_code == 404
    assert boss.post("/admin/cohorts/999999/cancel", data={"confirm": "1"}).status_code == 404


# --------------------------------------------------------------------------------------------
# The curriculum.
# --------------------------------------------------------------------------------------------


def test_sessions_are_added_edited_and_removed_each_raising_the_revision(app, boss, now):
    cohort = gen_cohort(organisation_date(now) + timedelta(days=20), days=3)
    page = boss.get(f"/admin/cohorts/{cohort.id}", headers=EN).get_data(as_text=True)
    offered = re.findall(r'<option value="(\d{4}-\d\d-\d\d)"', page)
    assert offered == [(cohort.starts_on + timedelta(days=n)).isoformat() for n in range(3)]  # its days only

    second = cohort.starts_on + timedelta(days=1)
    typed = {
        "day": second.isoformat(),
        "start": "09:30",
        "end": "12:00",
        "title_zh": "产品知识",
        "trainer": "李老师",
        "room": "3F",
    }
    assert boss.post(f"/admin/cohorts/{cohort.id}/sessions", data=typed).status_code == 303
    db.session.expire_all()
    [added] = [s for s in sessions_of(cohort) if s.title_zh == "产品知识"]
    assert (added.title_zh, added.trainer, added.room) == ("产品知识", "李老师", "3F")
    assert local(added.starts_at) == datetime.combine(second, time(9, 30))
    assert local(added.ends_at) == datetime.combine(second, time(12, 0))
    assert cohort.revision == 1

    response = boss.post(f"/admin/cohorts/{cohort.id}/sessions", data={**typed, "end": "09:00"}, headers=EN)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and field_error(page, "s-end") == "It must end after it starts."
    assert 'value="产品知识"' in page and 'value="09:00"' in page
    outside = {**typed, "day": (cohort.ends_on + timedelta(days=1)).isoformat()}
    response = boss.post(f"/admin/cohorts/{cohort.id}/sessions", data=outside, headers=EN)
    assert response.status_code == 422 and field_error(response.get_data(as_text=True), "s-day").startswith(
        "Choose a day"
    )
    assert len(sessions_of(cohort)) == 4

    page = boss.get(f"/admin/cohorts/{cohort.id}?edit={added.id}", headers=EN).get_data(as_text=True)
    assert f'action="/admin/cohorts/{cohort.id}/sessions/{added.id}"' in page
    assert 'value="09:30"' in page and f'<option value="{second.isoformat()}" selected>' in page
    edited = {**typed, "title_zh": "产品知识（二）", "start": "13:00", "end": "15:00"}
    assert boss.post(f"/admin/cohorts/{cohort.id}/sessions/{added.id}", data=edited).status_code == 303
    db.session.expire_all()
    assert added.title_zh == "产品知识（二）" and local(added.starts_at).time() == time(13, 0)
    assert cohort.revision == 2

    assert boss.post(f"/admin/cohorts/{cohort.id}/sessions/{added.id}/remove").status_code == 303
    db.session.expire_all()
    assert added.removed_at is not None and cohort.revision == 3
    page = boss.get(f"/admin/cohorts/{cohort.id}", headers=EN).get_data(as_text=True)
    assert "产品知识" not in page and "Day 1" in page
    assert boss.get(f"/admin/cohorts/{cohort.id}?edit={added.id}").status_code == 404  # removed: not editable


def test_a_session_of_another_cohort_is_404(app, boss, now):
    ours, theirs = gen_cohort(name="Ours"), gen_cohort(name="Theirs")
    theirs_session = sessions_of(theirs)[0]
    data = {"day": ours.starts_on.isoformat(), "start": "09:00", "end": "10:00", "title_zh": "偷"}
    assert boss.get(f"/admin/cohorts/{ours.id}?edit={theirs_session.id}").status_code == 404
    assert boss.get(f"/admin/cohorts/{ours.id}?edit=first").status_code == 404
    assert boss.get(f"/admin/cohorts/{ours.id}?edit={2**40}").status_code == 404
    assert boss.post(f"/admin/cohorts/{ours.id}/sessions/{theirs_session.id}", data=data).status_code == 404
    assert boss.post(f"/admin/cohorts/{ours.id}/sessions/{theirs_session.id}/remove").status_code == 404
    db.session.expire_all()
    assert theirs_session.removed_at is None and theirs_session.title_zh == "第 1 天"


def test_the_curriculum_of_an_earlier_cohort_is_copied_onto_the_working_days(app, boss, now, plain_weeks):
    source = gen_cohort(monday_after(organisation_date(now), 1), days=3, name="Source")  # Monday to Wednesday
    target = gen_cohort(monday_after(organisation_date(now), 3), days=0, name="Target")
    target.ends_on = target.starts_on + timedelta(days=1)  # Monday and Tuesday
    gen_cohort(monday_after(organisation_date(now), 5), days=0, name="Empty").ends_on += timedelta(days=2)
    db.session.commit()
    page = boss.get(f"/admin/cohorts/{target.id}", headers=EN).get_data(as_text=True)
    choices = re.findall(r'<option value="(\d+)">([^<·]*) ·', page)
    assert choices == [(str(source.id), "Source")]  # only cohorts with a curriculum, and not itself

    response = boss.post(f"/admin/cohorts/{target.id}/copy", data={"source": ""}, headers=EN)
    assert response.status_code == 422 and field_error(response.get_data(as_text=True), "copy-source")
    response = boss.post(f"/admin/cohorts/{target.id}/copy", data={"source": str(source.id)}, headers=EN)
    assert response.status_code == 303
    copied = sessions_of(target)
    assert [local(s.starts_at).date() for s in copied] == [target.starts_on, target.starts_on + timedelta(days=1)]
    assert [s.title_en for s in copied] == ["Day 1", "Day 2"]
    page = boss.get(f"/admin/cohorts/{target.id}", headers=EN).get_data(as_text=True)
    assert "2 copied, 1 left out (beyond its last day)." in page
    assert f"/admin/cohorts/{target.id}/copy" not in page  # it has a curriculum now: add to it one by one

    response = boss.post(f"/admin/cohorts/{target.id}/copy", data={"source": str(source.id)}, headers=EN)
    assert response.status_code == 422 and "has sessions already" in response.get_data(as_text=True)
    assert len(sessions_of(target)) == 2


def test_the_waitlist_is_in_the_order_people_passed_and_pages(app, site, boss, now, monkeypatch):
    monkeypatch.setattr("portal.admin.cohorts.WAITLIST_PER_PAGE", 1)
    cohort = gen_cohort(organisation_date(now) + timedelta(days=20), capacity=1)
    member(site, cohort, "成员", now)
    later = gen_candidate(site, [("passed", now - timedelta(days=1))], name="后来", email="later@example.com")
    first = gen_candidate(site, [("passed", now - timedelta(days=2))], name="先来", email="first@example.com")
    for person in (later, first):
        place_in_cohort(person, cohort.id, actor_id=None, now=now)
    db.session.commit()
    page = boss.get(f"/admin/cohorts/{cohort.id}", headers=EN).get_data(as_text=True)
    assert f'<a href="/hr/candidates/{first.id}">先来</a>' in page and "后来" not in page
    assert f'href="/admin/cohorts/{cohort.id}?waitlist_page=2"' in page
    page = boss.get(f"/admin/cohorts/{cohort.id}?waitlist_page=2", headers=EN).get_data(as_text=True)
    assert f'<a href="/hr/candidates/{later.id}">后来</a>' in page and "先来" not in page
    # After a refused form the pager still leads to the page, not to where the form was sent.
    page = boss.post(f"/admin/cohorts/{cohort.id}/cancel", data={}, headers=EN).get_data(as_text=True)
    assert f'href="/admin/cohorts/{cohort.id}?waitlist_page=2"' in page


# --------------------------------------------------------------------------------------------
# Cancelling.
# --------------------------------------------------------------------------------------------


def test_cancelling_needs_the_tick_then_tells_the_members_and_leaves_nothing_to_change(app, site, boss, now):
    cohort = gen_cohort(organisation_date(now) + timedelta(days=20))
    person = member(site, cohort, "王芳", now)
    page = boss.get(f"/admin/cohorts/{cohort.id}", headers=EN).get_data(as_text=True)
    assert "I understand: 1 member is told." in page

    response = boss.post(f"/admin/cohorts/{cohort.id}/cancel", data={}, headers=EN)
    assert response.status_code == 422
    assert "Tick the box first" in response.get_data(as_text=True)
    db.session.expire_all()
    assert not cohort.cancelled and training_changes(person) == []

    assert boss.post(f"/admin/cohorts/{cohort.id}/cancel", data={"confirm": "1"}, headers=EN).status_code == 303
    assert boss.post(f"/admin/cohorts/{cohort.id}/cancel", data={"confirm": "1"}).status_code == 303  # twice: once
    db.session.expire_all()
    assert cohort.cancelled and len(training_changes(person)) == 1
    page = boss.get(f"/admin/cohorts/{cohort.id}", headers=EN).get_data(as_text=True)
    assert "Cancelled. 1 member was told." in page and "Cancelled on" in page
    assert '<form method="post" action="/admin/cohorts/' not in page  # no form that would change it

    session = sessions_of(cohort)[0]
    refused = [
        boss.post(f"/admin/cohorts/{cohort.id}", data=cohort_form(cohort, name="Revived")),
        boss.post(f"/admin/cohorts/{cohort.id}/sessions/{session.id}/remove"),
        boss.post(
            f"/admin/cohorts/{cohort.id}/sessions",
            data={"day": cohort.starts_on.isoformat(), "start": "09:00", "end": "10:00", "title_zh": "x"},
        ),
    ]
    assert [response.status_code for response in refused] == [422, 422, 422]
    db.session.expire_all()
    assert cohort.name == "December cohort" and session.removed_at is None and len(sessions_of(cohort)) == 3


# --------------------------------------------------------------------------------------------
# A series.
# --------------------------------------------------------------------------------------------


def previewed(boss, data: dict) -> dict:
    """``data`` as its "create" comes from the page: after a preview, with the first days that were shown."""
    page = boss.post("/admin/cohorts/series", data={**data, "action": "preview"}, headers=EN).get_data(as_text=True)
    return {**data, "previewed": re.search(r'name="previewed" value="([^"]*)"', page)[1]}


def series_form(month: str, **changes) -> dict:
    values = {
        "first_month": month,
        "months": "3",
        "weekday": "1",
        "nth": "1",
        "working_days": "5",
        "name": "Store hires",
        "site": "上海",
        "place_zh": "浦东培训中心",
        "place_en": "",
        "address": "张杨路 500 号",
        "map_url": "",
        "capacity": "25",
        "bring_zh": "",
        "bring_en": "",
        "copy_from": "",
        "action": "preview",
    }
    values.update(changes)
    return values


def first_working_monday(year: int, month: int) -> date:
    day = date(year, month, 1)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def test_a_series_preview_saves_nothing_and_says_which_calendar_is_not_yet_published(app, boss, now):
    this_year = organisation_date(now).year
    published, unpublished = this_year + 1, this_year + 2
    for year in (this_year, published, unpublished):
        confirmed = year != unpublished
        source = CalendarSource.FILE if confirmed else CalendarSource.LIBRARY
        db.session.add(CalendarYear(year=year, source=source, confirmed=confirmed, loaded_at=now))
    db.session.commit()

    response = boss.post("/admin/cohorts/series", data=series_form(f"{published}-11"), headers=EN)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Cohort)) == 0
    assert "3 cohorts would be created" in page
    names = re.findall(r"<tr><td>(\d{4}-\d\d Store hires)", page)
    assert names == [f"{published}-11 Store hires", f"{published}-12 Store hires", f"{unpublished}-01 Store hires"]
    assert f"calendar for {unpublished} not yet published" in page
    assert f"calendar for {published} not yet published" not in page
    assert page.count("not yet published</span>") == 1  # only January's cohort falls in that year
    assert 'name="action" value="create"' in page and 'value="Store hires"' in page


def test_a_series_is_created_all_at_once_with_the_curriculum_copied(app, boss, now, plain_weeks):
    year = organisation_date(now).year + 1
    source = gen_cohort(monday_after(organisation_date(now)), days=2, name="Template")
    data = previewed(boss, series_form(f"{year}-03", copy_from=str(source.id), action="create"))
    response = boss.post("/admin/cohorts/series", data=data, headers=EN)
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/cohorts")
    made = db.session.scalars(sa.select(Cohort).where(Cohort.id != source.id).order_by(Cohort.starts_on)).all()
    assert [(c.name, c.starts_on, c.capacity) for c in made] == [
        (f"{year}-{month:02} Store hires", first_working_monday(year, month), 25) for month in (3, 4, 5)
    ]
    assert all(c.ends_on == c.starts_on + timedelta(days=4) for c in made)  # five working days, Monday to Friday
    assert [len(sessions_of(c)) for c in made] == [2, 2, 2]
    assert "3 cohorts created." in boss.get("/admin/cohorts", headers=EN).get_data(as_text=True)


@pytest.mark.parametrize(
    "changes, input_id, message",
    [
        ({"months": "13"}, "r-months", "Months must be a whole number from 1 to 12."),
        ({"months": "two"}, "r-months", "Months must be a whole number from 1 to 12."),
        ({"first_month": "March"}, "r-first-month", "The first month must be a date."),
        ({"first_month": "2027-13"}, "r-first-month", "The first month must be a date."),
        ({"first_month": "9999-12"}, "r-first-month", "The first month must be in a year from 2000 to 2100."),
        ({"nth": "5"}, "r-nth", "The week must be the first, second, third, fourth or last (1 to 4, or -1)."),
        (
            {"map_url": "javascript:alert(1)", "action": "create"},
            "t-map",
            "A map link must be an http:// or https:// address.",
        ),
        ({"capacity": "0", "action": "create"}, "t-capacity", "Places must be a whole number from 1 to 2000."),
        ({"copy_from": "999999", "action": "create"}, "t-copy", "Choose a cohort to copy from."),
    ],
)
def test_a_refused_series_keeps_what_was_typed_and_creates_nothing(
    app, boss, now, plain_weeks, changes, input_id, message
):
    year = organisation_date(now).year + 1
    data = series_form(f"{year}-03", name="Typed & kept", **changes)
    if changes.get("action") == "create":
        data = previewed(boss, data)
    response = boss.post("/admin/cohorts/series", data=data, headers=EN)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(page, input_id) == str(escape(message))
    assert f'value="{escape("Typed & kept")}"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Cohort)) == 0


# --------------------------------------------------------------------------------------------
# Who may.
# --------------------------------------------------------------------------------------------


def test_hr_are_kept_out_of_every_cohort_screen(app, site, client, now):
    cohort = gen_cohort()
    signed_in(client, gen_user("hr"))
    session = sessions_of(cohort)[0]
    for method, url in [
        ("GET", "/admin/cohorts"),
        ("GET", "/admin/cohorts/new"),
        ("POST", "/admin/cohorts/new"),
        ("GET", f"/admin/cohorts/{cohort.id}"),
        ("POST", f"/admin/cohorts/{cohort.id}/cancel"),
        ("POST", f"/admin/cohorts/{cohort.id}/sessions/{session.id}/remove"),
        ("GET", "/admin/cohorts/series"),
        ("POST", "/admin/cohorts/series"),
    ]:
        data = {"confirm": "1", **series_form("2030-01", action="create")} if method == "POST" else None
        assert client.open(url, method=method, data=data).status_code == 403, url
    db.session.expire_all()
    assert not cohort.cancelled and session.removed_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Cohort)) == 1


def test_new_dates_that_leave_a_session_past_the_last_day_say_which_was_taken_off(app, site, boss, now):
    first = organisation_date(now) + timedelta(days=30)
    first += timedelta(days=(7 - first.isoweekday()) % 7 + 1)  # a Monday: three working days in a row
    cohort = gen_cohort(first, days=3)
    response = boss.post(
        f"/admin/cohorts/{cohort.id}",
        data=cohort_form(cohort, ends_on=(first + timedelta(days=1)).isoformat()),
        headers=EN,
    )
    assert response.status_code == 303
    page = boss.get(f"/admin/cohorts/{cohort.id}", headers=EN).get_data(as_text=True)
    assert "taken off the curriculum: Day 3." in page
    assert [
        s.removed_at is not None
        for s in db.session.scalars(
            sa.select(CohortSession).where(CohortSession.cohort_id == cohort.id).order_by(CohortSession.starts_at)
        )
    ] == [False, False, True]


def test_a_rule_changed_after_its_preview_is_previewed_again_not_created(app, boss, now, plain_weeks):
    year = organisation_date(now).year + 1
    data = previewed(boss, series_form(f"{year}-03", action="create"))  # three months were shown
    response = boss.post("/admin/cohorts/series", data={**data, "months": "1"}, headers=EN)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "The rule changed since the preview" in page
    assert "1 cohort would be created" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Cohort)) == 0
