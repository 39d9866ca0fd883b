"""The work calendar and the send window, with an injected clock: weekends, public holidays, China's
make-up working days, nights, a year whose make-up days are not yet published, and daylight saving."""

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from portal.extensions import db
from portal.models import CalendarDay, CalendarYear
from portal.services.worktime import CalendarError, SendAt, WorkCalendar, import_calendar, next_working_morning

SHANGHAI = "Asia/Shanghai"


def at(text: str, zone: str = SHANGHAI) -> datetime:
    """A local wall-clock time as UTC: at("2026-10-01 10:00")."""
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def send(now: datetime, essential: bool = False) -> tuple[datetime, bool]:
    answer = WorkCalendar(now).send_at(now, essential=essential)
    return answer.at, answer.provisional


@pytest.mark.parametrize(
    "now, expected",
    [
        ("2026-12-02 10:30", "2026-12-02 10:30"),  # a Wednesday in working hours: at once
        ("2026-12-02 07:10", "2026-12-02 09:00"),  # before the day starts
        ("2026-12-02 18:00", "2026-12-03 09:00"),  # the day is over: tomorrow morning
        ("2026-12-02 23:50", "2026-12-03 09:00"),  # across midnight
        ("2026-12-04 17:59", "2026-12-04 17:59"),  # Friday, still open
        ("2026-12-04 19:00", "2026-12-07 09:00"),  # Friday evening: Monday
        ("2026-12-05 11:00", "2026-12-07 09:00"),  # Saturday
        ("2026-10-01 10:00", "2026-10-08 09:00"),  # National Day week: back on Thursday the 8th
        ("2026-10-09 18:30", "2026-10-10 09:00"),  # the Saturday after it is a make-up working day
        ("2026-02-13 20:00", "2026-02-14 09:00"),  # Friday before Spring Festival: Saturday is worked
        ("2026-02-14 19:00", "2026-02-24 09:00"),  # then nine days off
    ],
)
def test_a_message_that_can_wait_goes_in_working_hours_on_a_working_day(app, now, expected):
    assert send(at(now)) == (at(expected), False)  # 2026 is published: not provisional


@pytest.mark.parametrize(
    "now, expected",
    [
        ("2026-10-01 10:00", "2026-10-01 10:00"),  # a holiday: essential goes anyway
        ("2026-12-05 20:59", "2026-12-05 20:59"),
        ("2026-12-05 21:00", "2026-12-06 08:00"),  # never at night
        ("2026-12-06 02:00", "2026-12-06 08:00"),  # after midnight, still night
        ("2026-12-06 08:00", "2026-12-06 08:00"),
    ],
)
def test_an_essential_message_goes_any_day_but_never_at_night(app, now, expected):
    assert send(at(now), essential=True) == (at(expected), False)


def test_a_year_not_yet_published_is_used_but_said_to_be_provisional(app):
    calendar = WorkCalendar(at("2026-12-31 19:00"))
    assert calendar.confirmed(2026) and not calendar.confirmed(2027)  # the package knows no 2027 make-up days
    assert calendar.send_at(at("2026-12-31 19:00"), essential=False).provisional  # it reaches into 2027
    assert calendar.send_at(at("2027-01-04 10:00"), essential=False) == SendAt(at("2027-01-04 10:00"), True)
    years = dict(db.session.execute(sa.select(CalendarYear.year, CalendarYear.source)).all())
    assert years == {2026: "library", 2027: "library"}  # seeded once, when first needed


def test_an_imported_year_is_confirmed_and_replaces_the_guess(app):
    WorkCalendar(at("2027-01-01 10:00"))  # seeds 2027 and 2028 from the package
    years = import_calendar(
        """# 2027, as published
        2027-02-06 work 调休上班
        2027-02-08 rest 春节
        2027-02-09 rest 春节
        """,
        at("2026-12-06 10:00"),
    )
    assert years == [2027]
    calendar = WorkCalendar(at("2027-02-05 19:00"))
    assert calendar.confirmed(2027)
    # Friday evening: the make-up Saturday is a working day, and the year is no longer provisional.
    assert calendar.send_at(at("2027-02-05 19:00"), essential=False) == SendAt(at("2027-02-06 09:00"), False)
    assert not calendar.is_working_day(date(2027, 2, 8)) and calendar.is_working_day(date(2027, 2, 10))
    assert db.session.get(CalendarDay, date(2027, 1, 1)) is None  # the package's guesses for 2027 are gone


def test_a_calendar_file_with_a_bad_line_changes_nothing(app):
    WorkCalendar(at("2027-01-01 10:00"))
    before = db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay))
    with pytest.raises(CalendarError) as refused:
        import_calendar(
            "2027-02-06 work 调休上班\n2027-02-30 rest 春节\n2027-03-01 holiday x\n", at("2026-12-06 10:00")
        )
    with force_locale("en"):
        assert [str(problem).split(":")[0] for problem in refused.value.problems] == ["line 2", "line 3"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == before


def test_the_window_follows_daylight_saving_in_a_zone_that_has_it(app, monkeypatch):
    monkeypatch.setitem(app.config, "TIMEZONE", "Europe/Berlin")
    monkeypatch.setitem(app.config, "REST_DAYS", "6,7")
    berlin = "Europe/Berlin"
    # Saturday night before the clocks go forward (29 March 2026): Monday 09:00 is 07:00 UTC, not 08:00.
    assert send(at("2026-03-28 22:00", berlin)) == (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), False)
    # And back in October: Monday 09:00 after 25 October is 08:00 UTC.
    assert send(at("2026-10-24 12:00", berlin))[0] == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    # The night ends at 08:00 local on the day the clocks change.
    assert send(at("2026-03-29 01:30", berlin), essential=True)[0] == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "now, expected",
    [
        ("2026-12-02 15:00", "2026-12-03 09:00"),
        ("2026-12-04 15:00", "2026-12-07 09:00"),  # Friday: Monday
        ("2026-09-30 15:00", "2026-10-08 09:00"),  # before National Day week
        ("2026-10-09 15:00", "2026-10-10 09:00"),  # a make-up Saturday
    ],
)
def test_no_answer_comes_back_on_the_next_working_morning(app, now, expected):
    assert next_working_morning(at(now)) == at(expected)


def test_the_command_line_shows_a_year_and_imports_one(app, tmp_path):
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["calendar", "show", "2027"])
    assert shown.exit_code == 0 and shown.output.startswith("# 2027: not yet published")
    assert "2027-01-01 rest" in shown.output
    published = tmp_path / "2027.txt"
    published.write_text("2027-02-06 work 调休上班\n2027-02-08 rest 春节\n", "utf-8")
    done = runner.invoke(args=["calendar", "import", str(published)])
    assert done.exit_code == 0 and "imported 2027: confirmed" in done.output
    shown = runner.invoke(args=["calendar", "show", "2027"])
    assert shown.output.splitlines() == ["# 2027: confirmed", "2027-02-06 work 调休上班", "2027-02-08 rest 春节"]
    published.write_text("2027-02-31 rest 春节\n", "utf-8")
    refused = runner.invoke(args=["calendar", "import", str(published)])
    assert refused.exit_code == 1 and "line 1: expected a date" in refused.output


def test_admins_see_a_year_say_not_yet_published_and_save_it_which_confirms_it(app, client):
    from portal.models import AuditEvent
    from tests.builders import gen_user, signed_in

    signed_in(client, gen_user("admin", email="admin@example.com", name="Admin"))
    page = client.get("/admin/calendar?year=2027", headers={"Accept-Language": "en"}).data.decode()
    assert "Not yet published." in page and "2027-01-01 rest" in page  # the file to edit, prefilled
    text = "2027-02-06 work 调休上班\n2027-02-08 rest 春节\n"
    saved = client.post("/admin/calendar/2027", data={"days": text})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/admin/calendar?year=2027&saved=1")
    page = client.get(saved.headers["Location"], headers={"Accept-Language": "en"}).data.decode()
    assert "Saved: 2027 is confirmed." in page and "Not yet published." not in page
    assert "调休上班" in page and "working day" in page and "entered by an admin" in page
    assert WorkCalendar(at("2027-02-06 10:00")).is_working_day(date(2027, 2, 6))
    audit = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "calendar.import")).one()
    assert audit.detail == "2027: 2 days"


def test_a_calendar_that_cannot_be_read_is_refused_in_the_readers_words_with_the_text_kept(app, client):
    from tests.builders import gen_user, signed_in

    signed_in(client, gen_user("admin", email="admin@example.com", name="Admin"))
    client.get("/admin/calendar?year=2027")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay))
    text = "2027-02-06 work 调休上班\n2028-01-01 rest 元旦\n2027-02-30 rest x\n"
    refused = client.post("/admin/calendar/2027", data={"days": text}, headers={"Accept-Language": "zh-CN"})
    page = refused.data.decode()
    assert refused.status_code == 422 and "2028-01-01 rest 元旦" in page  # what was typed is still there
    assert "第 2 行" in page and "第 3 行" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == before
    assert not db.session.get(CalendarYear, 2027).confirmed
    big = {"days": "", "file": (__import__("io").BytesIO(b"#" * 70_000), "big.txt")}
    assert client.post("/admin/calendar/2027", data=big, content_type="multipart/form-data").status_code == 422
    empty = client.post("/admin/calendar/2027", data={"days": "  \n"}, headers={"Accept-Language": "en"})
    assert empty.status_code == 422 and "a year always has public holidays" in empty.data.decode()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == before
    assert client.get("/admin/calendar?year=1900").status_code == 404


def test_a_calendar_file_can_be_uploaded_and_hr_may_not_see_the_page(app, client):
    import io

    from tests.builders import gen_user, signed_in

    signed_in(client, gen_user("hr", email="hr@example.com", name="HR"))
    assert client.get("/admin/calendar").status_code == 403
    signed_in(client, gen_user("admin", email="admin@example.com", name="Admin"))
    upload = {"days": "", "file": (io.BytesIO("\ufeff2027-10-09 work 调休上班\n".encode()), "2027.txt")}
    saved = client.post("/admin/calendar/2027", data=upload, content_type="multipart/form-data")
    assert saved.status_code == 303 and db.session.get(CalendarYear, 2027).confirmed
    assert [day.day for day in db.session.scalars(sa.select(CalendarDay))] == [date(2027, 10, 9)]


def test_a_send_time_in_a_year_not_yet_published_says_so_on_the_candidate_page(app, client, site):
    from portal.models.outbox import MessageKind
    from portal.services.outbox import queue_message
    from tests.builders import gen_candidate, gen_user, signed_in

    hr = gen_user("hr", email="hr@example.com", name="HR")
    candidate = gen_candidate(site, [("passed", at("2026-12-01 10:00"))], owner=hr, email="c@example.com")
    queue_message(candidate, kind=MessageKind.NOTE, key="a", subject="2026", body="b", now=at("2026-12-02 10:00"))
    queue_message(candidate, kind=MessageKind.NOTE, key="b", subject="2027", body="b", now=at("2027-01-05 10:00"))
    db.session.commit()
    signed_in(client, hr)
    page = client.get(f"/hr/candidates/{candidate.id}", headers={"Accept-Language": "en"}).data.decode()
    assert page.count("calendar not yet published") == 1  # 2026 is published, 2027 is the package's guess


def test_a_calendar_file_with_control_characters_in_a_name_keeps_the_name_without_them(app):
    import_calendar("2027-02-06 work 调休\x00上班\n", at("2026-12-06 10:00"))
    assert db.session.get_one(CalendarDay, date(2027, 2, 6)).name == "调休上班"
