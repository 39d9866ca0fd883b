"""Contacts HR make outside Keepwarm: the quiet rule counts a reached one, and the next one falls due by tier."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Contact, Flag
from portal.services.contacts import ContactError, log_contact
from portal.services.scan import run_scan
from portal.services.worktime import organisation_date
from tests.builders import gen_candidate, gen_flag, gen_user, signed_in

DAY = timedelta(days=1)
EN = {"Accept-Language": "en"}
HX = {"HX-Request": "true", **EN}


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


def scan(now):
    run_scan(now)
    db.session.commit()


def open_quiet_flags():
    return db.session.scalars(sa.select(Flag).where(Flag.rule == "gone_quiet", Flag.resolved_at.is_(None))).all()


def quiet(site, hr, now, days=4):
    return gen_candidate(site, [("passed", now - 20 * DAY)], owner=hr, last_seen_at=now - days * DAY)


def test_a_reached_contact_closes_the_quiet_flag_until_they_are_quiet_again_from_it(app, site, hr, now):
    candidate = quiet(site, hr, now)
    scan(now)
    assert len(open_quiet_flags()) == 1
    log_contact(candidate, channel="phone", outcome="reached", actor=hr, now=now)
    db.session.commit()
    assert open_quiet_flags() == []  # at once: the contact re-evaluates this candidate
    scan(now + 2 * DAY)  # 2 days after the contact: not quiet (the warning counts 3)
    assert open_quiet_flags() == []
    scan(now + 3 * DAY + timedelta(minutes=1))
    (flag,) = open_quiet_flags()
    assert flag.severity == "warning" and flag.evidence_at == now  # counted from the contact, not the last visit


def test_no_answer_is_no_contact_for_the_quiet_rule(app, site, hr, now):
    candidate = quiet(site, hr, now)
    scan(now)
    log_contact(candidate, channel="wechat", outcome="no_answer", actor=hr, now=now)
    db.session.commit()
    assert len(open_quiet_flags()) == 1 and candidate.last_reached_at is None


def test_a_visit_after_the_contact_still_counts_and_the_later_of_both_decides(app, site, hr, now):
    candidate = quiet(site, hr, now, days=10)
    log_contact(candidate, channel="phone", outcome="reached", actor=hr, now=now, contacted_at=now - 5 * DAY)
    db.session.commit()
    scan(now)
    (flag,) = open_quiet_flags()
    assert flag.evidence_at == now - 5 * DAY and flag.severity == "warning"  # 5 days, not 10: not yet urgent


@pytest.mark.parametrize(
    ("flags", "override", "tier", "days"),
    [((), None, "A", 14), (("warning",), None, "B", 7), (("urgent",), None, "C", 3), ((), "D", "D", 2)],
)
def test_the_next_contact_is_due_by_the_tier_at_contact(app, site, hr, now, flags, override, tier, days):
    candidate = gen_candidate(site, [("passed", now)], owner=hr, risk_tier_override=override)
    for severity in flags:
        gen_flag(candidate, "company_side_overdue", severity)
    contact = log_contact(candidate, channel="in_person", outcome="another_date", actor=hr, now=now)
    db.session.commit()
    assert contact.tier == tier
    assert candidate.next_contact_on == contact.next_due_on == organisation_date(now) + timedelta(days=days)


def test_app_settings_change_the_cadence(app, site, hr, now):
    app.config["CONTACT_EVERY_DAYS_A"] = 30
    candidate = gen_candidate(site, [("passed", now)], owner=hr)
    log_contact(candidate, channel="phone", outcome="reached", actor=hr, now=now)
    assert candidate.next_contact_on == organisation_date(now) + timedelta(days=30)


def test_an_older_contact_logged_late_keeps_the_newer_due_date_and_the_future_is_refused(app, site, hr, now):
    candidate = gen_candidate(site, [("passed", now)], owner=hr)
    log_contact(candidate, channel="phone", outcome="reached", actor=hr, now=now)
    due = candidate.next_contact_on
    log_contact(candidate, channel="sms", outcome="reached", actor=hr, now=now, contacted_at=now - 3 * DAY)
    assert candidate.next_contact_on == due and candidate.last_reached_at == now
    for kwargs in ({"contacted_at": now + DAY}, {"channel": "pigeon"}, {"outcome": "maybe"}):
        with pytest.raises(ContactError):
            log_contact(candidate, **{"channel": "phone", "outcome": "reached", **kwargs}, actor=hr, now=now)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Contact)) == 2
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_id == candidate.id)).all()
    assert actions.count("contact.log") == 2


def test_two_clicks_from_a_queue_row_log_the_contact_and_swap_the_row(app, client, site, hr, now):
    candidate = quiet(site, hr, now)
    scan(now)
    signed_in(client, hr)
    queue = client.get("/hr/queue", headers=EN).data.decode()
    prefix = f"contact-{candidate.id}-"
    assert f'name="{prefix}channel" value="phone" checked' in queue  # first click: a call is preselected
    assert f'name="{prefix}outcome" value="reached">Reached them</button>' in queue  # second click: the outcome
    answer = client.post(
        f"/hr/candidates/{candidate.id}/contacts",
        data={f"{prefix}channel": "phone", f"{prefix}outcome": "reached", "next": "/hr/queue"},
        headers=HX,
    )
    html = answer.data.decode()
    assert answer.status_code == 200 and html.strip().startswith(f'<tr id="candidate-{candidate.id}"')
    assert "<li" not in html  # the quiet flag closed
    assert "Next contact due" in html
    assert open_quiet_flags() == []


def test_the_candidate_page_logs_a_contact_and_keeps_a_refused_note(app, client, site, hr, now):
    candidate = gen_candidate(site, [("passed", now)], owner=hr)
    signed_in(client, hr)
    prefix = f"contact-{candidate.id}-"
    done = client.post(
        f"/hr/candidates/{candidate.id}/contacts",
        data={f"{prefix}channel": "wechat", f"{prefix}outcome": "declining", f"{prefix}note": "took a bakery job"},
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("#contacts-title")
    page = client.get(f"/hr/candidates/{candidate.id}", headers=EN).data.decode()
    assert "took a bakery job" in page and "Declining" in page and "WeChat" in page
    future = (now + 2 * DAY).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(
        f"/hr/candidates/{candidate.id}/contacts",
        data={
            f"{prefix}channel": "phone",
            f"{prefix}outcome": "reached",
            f"{prefix}contacted_at": future,
            f"{prefix}note": "typed with care",
        },
        headers=EN,
    )
    assert refused.status_code == 422
    assert "cannot be in the future" in refused.data.decode() and "typed with care" in refused.data.decode()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Contact)) == 1


def test_contact_due_fills_the_queue_and_is_a_filter(app, client, site, hr, now):
    due = gen_candidate(site, [("passed", now)], owner=hr, name="Due", next_contact_on=organisation_date(now))
    gen_candidate(site, [("passed", now)], owner=hr, name="Later", next_contact_on=organisation_date(now) + DAY)
    flagged = gen_candidate(site, [("passed", now)], owner=hr, name="Flagged")
    gen_flag(flagged)
    gen_candidate(site, [("passed", now)], owner=hr, name="Left", status="left", next_contact_on=organisation_date(now))
    signed_in(client, hr)
    everyone = client.get("/hr/queue", headers=EN).data.decode()
    assert re.findall(r'<tr id="candidate-(\d+)"', everyone) == [str(flagged.id), str(due.id)]
    assert "Contact due since" in everyone
    only_due = client.get("/hr/queue?rule=contact_due", headers=EN).data.decode()
    assert re.findall(r'<tr id="candidate-(\d+)"', only_due) == [str(due.id)]


def test_another_hr_cannot_log_a_contact_on_someone_elses_candidate(app, client, site, hr, now):
    other = gen_user("hr", email="other@example.com")
    candidate = gen_candidate(site, [("passed", now)], owner=other)
    signed_in(client, hr)
    prefix = f"contact-{candidate.id}-"
    answer = client.post(
        f"/hr/candidates/{candidate.id}/contacts", data={f"{prefix}channel": "phone", f"{prefix}outcome": "reached"}
    )
    assert answer.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Contact)) == 0
