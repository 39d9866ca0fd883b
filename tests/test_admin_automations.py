"""The automations an admin edits at /admin/automations: the recommended rhythm, a refused edit that keeps what
was typed, switching on without back-fill, a preview for a candidate, what each did; the candidate's own
"stop reminders" on their page and the HR page's warnings."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Automation, Candidate, Outbox
from portal.services.automations import DROPPED_CAP, automation_stats, seed_rhythm
from portal.services.links import issue_link
from tests.builders import gen_candidate, gen_user, log_in, open_page, signed_in

EN = {"Accept-Language": "en"}


@pytest.fixture
def admin(app):
    return gen_user("admin", email="admin@example.com", name="Boss")


def _automation(name: str) -> Automation:
    return db.session.scalars(sa.select(Automation).where(Automation.name.endswith(name))).one()


def _form(automation: Automation, **changes) -> dict:
    form = {
        "name": automation.name,
        "trigger": automation.trigger,
        "stage_id": str(automation.stage_id or ""),
        "delay_days": str(automation.delay_minutes // 1440),
        "delay_hours": str(automation.delay_minutes % 1440 // 60),
        "offset_days": str(automation.offset_days),
        "weekday": str(automation.weekday or ""),
        "at_time": automation.at_time,
        "kind": automation.kind,
        "channels": automation.channels,
        "subject_zh": automation.subject_zh,
        "subject_en": automation.subject_en,
        "body_zh": automation.body_zh,
        "body_en": automation.body_en,
        "sms_template": automation.sms_template,
        "sms_params": "\n".join(f"{k} = {v}" for k, v in automation.sms_params.items()),
    }
    if automation.with_story:
        form["with_story"] = "1"
    form.update(changes)
    return form


def test_an_admin_starts_from_the_rhythm_switched_off_and_switches_one_on(app, site, admin, now):
    client = signed_in(app.test_client(), admin)
    page = client.get("/admin/automations", headers=EN).get_data(as_text=True)
    assert "Add the recommended rhythm" in page
    assert client.post("/admin/automations/rhythm").status_code == 303
    client.post("/admin/automations/rhythm")  # twice: still one rhythm
    automations = db.session.scalars(sa.select(Automation)).all()
    assert len(automations) == 8 and not any(a.enabled for a in automations)
    page = client.get("/admin/automations", headers=EN).get_data(as_text=True)
    assert "1 h after entering Interview passed" in page and "every Friday at 15:00" in page
    welcome = _automation("Welcome with the portal link")
    assert client.post(f"/admin/automations/{welcome.id}/switch", data={"on": "1"}).status_code == 303
    db.session.expire_all()
    assert welcome.enabled and welcome.evaluated_until is not None  # only what happens from now on counts
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "automation")).all()
    assert actions == ["automation.on"]


def test_a_template_that_does_not_render_is_refused_and_what_was_typed_stays(app, site, admin, now):
    seed_rhythm(now=now, enabled=False)
    db.session.commit()
    story = _automation("A colleague's story every Friday")
    client = signed_in(app.test_client(), admin)
    typed = "{{ nmae }}，周末愉快"
    response = client.post(f"/admin/automations/{story.id}", data=_form(story, body_zh=typed), headers=EN)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Message in Chinese: nmae is not a variable" in page
    assert "{{ nmae }}，周末愉快</textarea>" in page
    db.session.expire_all()
    assert "nmae" not in story.body_zh
    for bad, words in (
        ({"at_time": "25:00"}, "A time is written as 15:00."),
        ({"weekday": ""}, "This trigger needs: Day of the week."),
        ({"weekday": "9"}, "Choose a day of the week."),
        ({"offset_days": "99999999999"}, "out of range"),
        ({"trigger": "stage_entered", "stage_id": "99999"}, "That stage does not exist."),
        (
            {"trigger": "stage_entered", "stage_id": str(site["passed"].id), "delay_days": "1000"},
            "A delay is between 0 and 90 days.",
        ),
        ({"subject_zh": "长" * 201}, "at most 200 characters"),
        ({"body_zh": "{{ 'x' * 100000000 }}"}, "not compute"),
        ({"delay_days": "two"}, "must be a whole number"),
        ({"sms_params": "link portal_link"}, "write it as name = variable"),
        ({"sms_params": "link = secret", "channels": "sms,email", "sms_template": "t"}, "unknown variables: secret"),
        ({"body_zh": "{{ name.__class__ }}"}, "Message in Chinese"),  # the sandbox
    ):
        response = client.post(f"/admin/automations/{story.id}", data=_form(story, **bad), headers=EN)
        assert response.status_code == 422 and words in response.get_data(as_text=True), bad
    response = client.post(f"/admin/automations/{story.id}", data=_form(story, name="故事 · 周五"), headers=EN)
    assert response.status_code == 303
    db.session.expire_all()
    assert story.name == "故事 · 周五"


def test_a_new_automation_and_its_preview_for_a_candidate(app, site, admin, now):
    client = signed_in(app.test_client(), admin)
    form = {
        "name": "Monday hello",
        "trigger": "weekly",
        "weekday": "1",
        "at_time": "09:30",
        "kind": "automated",
        "channels": "email",
        "subject_zh": "{{ name }}，新的一周",
        "body_zh": "{{ name }}，您好！{{ portal_link }}",
        "audience_sites": "上海 · 浦东店，苏州 · 园区店",
        "audience_tiers": ["A", "B"],
    }
    response = client.post("/admin/automations/new", data=form)
    assert response.status_code == 303
    made = _automation("Monday hello")
    assert made.audience == {"sites": ["上海 · 浦东店", "苏州 · 园区店"], "tiers": ["A", "B"]} and not made.enabled
    gen_candidate(site, [("passed", now)], name="预览人", email="p@example.com")
    page = client.get(f"/admin/automations/{made.id}?who=预览", headers=EN).get_data(as_text=True)
    assert "预览人，新的一周" in page and "预览人，您好！{portal_link}" in page


def test_what_an_automation_did_sent_dropped_by_reason_and_opened_within_48_hours(app, site, admin, now):
    welcome = seed_rhythm(now=now, enabled=True)[0]
    people = [gen_candidate(site, [("passed", now)], name=f"人{n}", email=f"p{n}@example.com") for n in range(4)]

    def row(candidate: Candidate, status: str, reason: str = "", opened_after: timedelta | None = None):
        link = None
        if status == "sent":
            link, _token = issue_link(candidate, "email", now=now)
            link.first_opened_at = now + opened_after if opened_after is not None else None
        db.session.add(
            Outbox(
                idempotency_key=f"x:{candidate.id}",
                candidate_id=candidate.id,
                kind="automated",
                locale="zh_CN",
                body="b",
                status=status,
                due_at=now,
                created_at=now,
                sent_at=now if status == "sent" else None,
                link_id=link.id if link else None,
                reason=reason,
                automation_id=welcome.id,
            )
        )

    row(people[0], "sent", opened_after=timedelta(hours=3))
    row(people[1], "sent", opened_after=timedelta(hours=50))  # too late to count
    row(people[2], "sent")
    row(people[3], "dropped", reason=DROPPED_CAP)
    db.session.commit()
    stats = automation_stats(welcome.id)
    assert (stats.sent, stats.recipients, stats.opened_within_48h, stats.dropped) == (3, 3, 1, {DROPPED_CAP: 1})
    client = signed_in(app.test_client(), admin)
    page = client.get(f"/admin/automations/{welcome.id}", headers=EN).get_data(as_text=True)
    assert "1 of 3 people (33 %)" in page and "the weekly cap of automated messages was reached: 1" in page


def test_a_candidate_stops_and_restarts_reminders_from_their_page_and_hr_see_it(app, site, now):
    hr = gen_user("hr", email="hr@example.com")
    candidate = gen_candidate(site, [("passed", now)], owner=hr, email="c@example.com")
    phone = app.test_client()
    page = open_page(phone, candidate, **EN).get_data(as_text=True)
    assert "Stop reminders and stories" in page
    response = phone.post("/me/messages", data={"stop": "1"}, headers=EN)
    assert response.status_code == 303 and response.headers["Location"].endswith("/me#messages")
    page = phone.get("/me", headers=EN).get_data(as_text=True)
    assert "Send me reminders and stories again" in page and "still come" in page
    db.session.expire_all()
    assert candidate.messages_stopped_at is not None
    staff = signed_in(app.test_client(), hr)
    assert "They stopped automated reminders" in staff.get(f"/hr/candidates/{candidate.id}", headers=EN).get_data(
        as_text=True
    )
    phone.post("/me/messages", data={"stop": "0"})
    db.session.expire_all()
    assert candidate.messages_stopped_at is None
    about_them = sa.and_(AuditEvent.object_type == "candidate", AuditEvent.object_id == candidate.id)
    actions = db.session.scalars(sa.select(AuditEvent.action).where(about_them).order_by(AuditEvent.id)).all()
    assert [a for a in actions if a.startswith("messages.")] == ["messages.stop", "messages.resume"]


def test_the_demo_shows_a_message_history_on_hr_pages_and_its_rhythm_is_on(app, now):
    from portal.demo import DEMO_STATES, DEMO_USERS, load_demo

    load_demo(now)
    quiet = db.session.scalars(sa.select(Candidate).where(Candidate.email == DEMO_STATES[4][0])).one()
    client = app.test_client()
    email, password, *_ = DEMO_USERS[1]  # the admin sees everyone
    assert log_in(client, email, password).status_code == 303
    page = client.get(f"/hr/candidates/{quiet.id}", headers=EN).get_data(as_text=True)
    for subject in ("欢迎，刘洋！这是您的入职页面", "入职前的几条小建议", "同事的故事："):
        assert subject in page, subject
    assert all(a.enabled for a in db.session.scalars(sa.select(Automation)))
    # The live evaluator adds nothing for moments the history already covers.
    from portal.services.automations import evaluate

    assert evaluate(now + timedelta(minutes=1)).total == 0


def test_an_admin_makes_a_checklist_item_required_and_due_and_everyone_sees_the_date(app, site, admin, now):
    from portal.models import ChecklistItem
    from tests.builders import gen_cohort

    cohort = gen_cohort(now.date() + timedelta(days=20))
    candidate = gen_candidate(site, [("passed", now)], cohort=cohort, email="c@example.com")
    item = db.session.scalars(sa.select(ChecklistItem).order_by(ChecklistItem.position)).first()
    client = signed_in(app.test_client(), admin)
    form = {"label_zh": item.label_zh, "label_en": item.label_en, "position": str(item.position)}
    refused = client.post(f"/admin/checklist/{item.id}", data={**form, "due_days_before": "3"}, headers=EN)
    assert refused.status_code == 422 and "Only a required item has a due day" in refused.get_data(as_text=True)
    for bad, words in (({"label_zh": " "}, "Write the item in Chinese."), ({"due_days_before": "x"}, "whole number")):
        response = client.post(f"/admin/checklist/{item.id}", data={**form, "required": "1", **bad}, headers=EN)
        assert response.status_code == 422 and words in response.get_data(as_text=True)
    saved = client.post(f"/admin/checklist/{item.id}", data={**form, "required": "1", "due_days_before": "3"})
    assert saved.status_code == 303
    db.session.expire_all()
    assert (item.required, item.due_days_before) == (True, 3)
    due = (cohort.starts_on - timedelta(days=3)).strftime("%b %-d, %Y")
    staff_page = client.get(f"/hr/candidates/{candidate.id}", headers=EN).get_data(as_text=True)
    assert f"by {due}" in staff_page and "0 of 5 ticked" in staff_page
    phone_page = open_page(app.test_client(), candidate, **EN).get_data(as_text=True)
    assert f"by {due}" in phone_page and "required" in phone_page
    added = client.post("/admin/checklist", data={"label_zh": "工牌照片", "cohort_id": str(cohort.id)})
    assert added.status_code == 303
    assert (
        db.session.scalars(sa.select(ChecklistItem).where(ChecklistItem.label_zh == "工牌照片")).one().cohort_id
        == cohort.id
    )
