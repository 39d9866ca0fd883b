"""The cohort view for HR: the roster as the user may see it, a message to those who have not confirmed, the
roster file, the sign-in sheet, and the first day (who came starts; who did not is offered the no-show form)."""

import csv
import io
from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Candidate, Outbox, Reason, utcnow
from portal.services.cohorts import confirm_attendance
from portal.services.worktime import organisation_date
from tests.builders import gen_candidate, gen_cohort, gen_reasons, gen_user, signed_in

EN = {"Accept-Language": "en"}


def members(site, cohort, hr, other):
    now = utcnow()
    reached = [("passed", now - timedelta(days=5))]
    mine = gen_candidate(site, reached, name="我的人", owner=hr, cohort=cohort, email="mine@example.com")
    unowned = gen_candidate(site, reached, name="没人管", cohort=cohort, email="free@example.com")
    theirs = gen_candidate(site, reached, name="别人的", owner=other, cohort=cohort, email="theirs@example.com")
    confirm_attendance(unowned.id, now=now)
    db.session.commit()
    return mine, unowned, theirs


def test_hr_see_their_members_confirmations_and_message_those_who_have_not_confirmed(app, site):
    hr, other = gen_user("hr", "a@example.com"), gen_user("hr", "b@example.com")
    cohort = gen_cohort(capacity=5)
    mine, unowned, theirs = members(site, cohort, hr, other)
    client = signed_in(app.test_client(), hr)
    listing = client.get("/hr/cohorts", headers=EN).get_data(as_text=True)
    assert cohort.name in listing and "3 / 5" in listing and "1 / 3" in listing  # places taken; confirmed
    page = client.get(f"/hr/cohorts/{cohort.id}", headers=EN).get_data(as_text=True)
    assert "我的人" in page and "没人管" in page and "别人的" not in page
    assert page.count("not yet") == 1
    sent = client.post(
        f"/hr/cohorts/{cohort.id}/message", data={"text": "请点“我会准时参加”", "request": "r1", "with_link": "1"}
    )
    assert sent.status_code == 200
    assert db.session.scalars(sa.select(Outbox.candidate_id)).all() == [mine.id]  # not the confirmed, not another's
    again = client.post(f"/hr/cohorts/{cohort.id}/message", data={"text": "请点“我会准时参加”", "request": "r1"})
    assert again.status_code == 200 and db.session.scalar(sa.select(sa.func.count(Outbox.id))) == 1  # a refresh
    empty = client.post(f"/hr/cohorts/{cohort.id}/message", data={"text": "  "}, headers=EN)
    assert empty.status_code == 422 and "Write the message first" in empty.get_data(as_text=True)


def test_the_roster_file_and_the_sign_in_sheet_hold_the_visible_members(app, site):
    hr, other = gen_user("hr", "a@example.com"), gen_user("hr", "b@example.com")
    cohort = gen_cohort()
    members(site, cohort, hr, other)
    client = signed_in(app.test_client(), hr)
    answer = client.get(f"/hr/cohorts/{cohort.id}/roster.csv", headers=EN)
    assert answer.status_code == 200 and "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Name", "Phone", "Confirmed"] and sorted(row[0] for row in rows[1:]) == ["我的人", "没人管"]
    assert db.session.scalar(sa.select(AuditEvent.detail).where(AuditEvent.action == "cohort.export")) == "csv, 2 rows"
    sheet = client.get(f"/hr/cohorts/{cohort.id}/sign-in", headers=EN).get_data(as_text=True)
    assert "我的人" in sheet and "别人的" not in sheet and 'class="sheet"' in sheet
    assert client.get("/hr/cohorts/999999", headers=EN).status_code == 404


def test_on_the_first_day_who_came_starts_and_who_did_not_is_offered_the_no_show_form(app, site):
    gen_reasons()
    hr = gen_user("admin", "boss@example.com")
    today = organisation_date(utcnow())
    later = gen_cohort(today + timedelta(days=3), name="Later")
    client = signed_in(app.test_client(), hr)
    early = client.post(f"/hr/cohorts/{later.id}/came", data={"came": []}, headers=EN)
    assert early.status_code == 422 and "mark who came from that day on" in early.get_data(as_text=True)

    cohort = gen_cohort(today, name="Today")
    came = gen_candidate(site, [("passed", utcnow() - timedelta(days=9))], name="来了", cohort=cohort)
    absent = gen_candidate(site, [("passed", utcnow() - timedelta(days=9))], name="没来", cohort=cohort)
    on_another_page = gen_candidate(site, [("passed", utcnow() - timedelta(days=9))], name="另一页", cohort=cohort)
    shown = [str(came.id), str(absent.id)]  # the roster's page as it was shown (another page is marked on its own)
    page = client.post(f"/hr/cohorts/{cohort.id}/came", data={"came": [str(came.id)], "shown": shown}, headers=EN)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "1 marked as started" in html and "They did not come" in html
    assert f'name="absent" value="{absent.id}"' in html and f'name="absent" value="{on_another_page.id}"' not in html
    db.session.expire_all()
    assert (came.status, absent.status) == ("started", "active")
    reason = db.session.scalars(sa.select(Reason.id).order_by(Reason.position)).first()
    refused = client.post(f"/hr/cohorts/{cohort.id}/no-shows", data={"absent": [str(absent.id)]}, headers=EN)
    assert refused.status_code == 422 and db.session.get(Candidate, absent.id).status == "active"
    done = client.post(
        f"/hr/cohorts/{cohort.id}/no-shows", data={"absent": [str(absent.id)], "reason_id": reason}, headers=EN
    )
    assert done.status_code == 200 and "1 marked as left: no-show" in done.get_data(as_text=True)
    db.session.expire_all()
    assert (absent.status, absent.left_kind) == ("left", "no_show")
