"""The HR follow-up queue: what each user sees, in which order, and what they can do from a row."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent
from portal.services.worktime import next_working_morning
from tests.builders import gen_candidate, gen_cohort, gen_flag, gen_user, signed_in

EN = {"Accept-Language": "en"}
HX = {"HX-Request": "true", **EN}


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


def rows(html):
    """The candidates in the queue, in order: one row per person."""
    return re.findall(r'<tr id="candidate-(\d+)"', html)


def flag_items(html):
    return re.findall(r'<li id="flag-(\d+)"', html)


def test_queue_orders_urgent_then_oldest_and_scopes_to_own_and_unowned(app, client, site, hr, now):
    other = gen_user("hr", email="other@example.com")
    mine = gen_candidate(site, [("passed", now)], owner=hr, name="Mine")
    nobody = gen_candidate(site, [("passed", now)], name="Nobody")
    theirs = gen_candidate(site, [("passed", now)], owner=other, name="Theirs")
    old_warning = gen_flag(mine, raised_ago=timedelta(days=2))
    new_urgent = gen_flag(nobody, severity="urgent")
    gen_flag(theirs, severity="urgent")
    gen_flag(mine, rule="link_not_opened", resolved_at=now)  # closed: not in the queue
    snoozed = gen_flag(nobody, rule="link_not_opened", snoozed_until=now + timedelta(days=1))  # shown as snoozed
    second = gen_flag(mine, rule="company_side_overdue", raised_ago=timedelta(days=1))
    signed_in(client, hr)
    html = client.get("/hr/queue", headers=EN).data.decode()
    assert rows(html) == [str(nobody.id), str(mine.id)]  # urgent first, then whoever waited longest
    assert flag_items(html) == [str(new_urgent.id), str(snoozed.id), str(old_warning.id), str(second.id)]
    assert "Not heard from for 4 days" in html
    assert "Our side is late" in html and "Reach out to them" in html
    badge = re.search(r'id="queue-badge"[^>]*>(\d+)<', html).group(1)
    assert badge == "2"  # people, not flags


def test_admin_sees_everyone(app, client, site, hr, now):
    admin = gen_user("admin", email="boss@example.com")
    gen_flag(gen_candidate(site, [("passed", now)], owner=hr))
    gen_flag(gen_candidate(site, [("passed", now)]))
    signed_in(client, admin)
    assert len(rows(client.get("/hr/queue").data.decode())) == 2
    past = client.get("/hr/queue?page=9", headers=EN).data.decode()  # not "nobody needs a call"
    assert "No candidates on this page." in past and "Back to the first page" in past


def test_badge_counts_each_person_in_the_queue_once(app, client, site, hr, now):
    """The badge is counted apart from the queue (from indexes alone): it must count exactly its rows."""
    from portal.services.worktime import organisation_date

    admin = gen_user("admin", email="boss@example.com")
    other = gen_user("hr", email="other@example.com")
    today = organisation_date(now)
    both = gen_candidate(site, [("passed", now)], owner=hr, next_contact_on=today)  # a flag and a contact due
    gen_flag(both)
    gen_flag(both, rule="link_not_opened", severity="urgent")
    gen_candidate(site, [("passed", now)], owner=hr, next_contact_on=today - timedelta(days=3))  # only due
    gen_flag(gen_candidate(site, [("passed", now)]))  # unowned, flagged
    gen_candidate(site, [("passed", now)], next_contact_on=today)  # unowned, due
    gen_flag(gen_candidate(site, [("passed", now)], owner=other))  # a colleague's: admins only
    gen_candidate(site, [("passed", now)], owner=other, next_contact_on=today)  # a colleague's: admins only
    snoozed = gen_candidate(site, [("passed", now)], owner=hr)
    gen_flag(snoozed, snoozed_until=now + timedelta(days=1))  # snoozed: not waiting
    gen_candidate(site, [("passed", now)], owner=hr, next_contact_on=today + timedelta(days=1))  # not due yet
    gen_candidate(site, [("passed", now)], owner=hr, status="left", next_contact_on=today)  # left: not due
    gen_flag(gen_candidate(site, [("passed", now)], owner=hr), resolved_at=now)  # resolved
    for user, expected in ((hr, 4), (admin, 6)):
        signed_in(client, user)
        html = client.get("/hr/queue", headers=EN).data.decode()
        badge = re.search(r'id="queue-badge"[^>]*>(\d+)<', html).group(1)
        assert (int(badge), len(rows(html))) == (expected, expected), user.email
        assert client.get("/hr/queue/badge").data.decode().count(f">{expected}<") == 1


def test_filters_and_htmx_partial(app, client, site, hr, now):
    cohort = gen_cohort()
    in_cohort = gen_candidate(site, [("passed", now)], owner=hr, cohort=cohort)
    urgent = gen_flag(in_cohort, severity="urgent")
    gen_flag(gen_candidate(site, [("passed", now)], owner=hr), rule="link_not_opened")
    signed_in(client, hr)
    full = client.get(f"/hr/queue?cohort={cohort.id}", headers=EN)
    partial = client.get("/hr/queue?severity=urgent&rule=gone_quiet", headers=HX)
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in partial.headers["Vary"]
    assert "<html" in full.data.decode() and rows(full.data.decode()) == [str(in_cohort.id)]
    partial_html = partial.data.decode()
    assert partial_html.startswith('<div id="queue-list">') and "<html" not in partial_html
    assert rows(partial_html) == [str(in_cohort.id)] and flag_items(partial_html) == [str(urgent.id)]


def test_claim_with_htmx_returns_the_row_and_audits(app, client, site, hr, now):
    candidate = gen_candidate(site, [("passed", now)], owner=hr)
    flag = gen_flag(candidate)
    signed_in(client, hr)
    response = client.post(f"/hr/flags/{flag.id}/claim", headers=HX)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "queue-changed"
    html = response.data.decode()
    assert html.strip().startswith(f'<tr id="candidate-{candidate.id}"') and "Taken by Zhou" in html
    audit = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "flag.claim")).one()
    assert (audit.object_type, audit.object_id, audit.actor_user_id) == ("candidate", candidate.id, hr.id)


def test_resolve_without_javascript_goes_back_to_the_filtered_queue(app, client, site, hr, now):
    flag = gen_flag(gen_candidate(site, [("passed", now)], owner=hr))
    signed_in(client, hr)
    response = client.post(
        f"/hr/flags/{flag.id}/resolve",
        data={"outcome": "reached_by_phone", "note": "Called, all good", "next": "/hr/queue?severity=warning"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/hr/queue?severity=warning"
    db.session.refresh(flag)
    assert flag.outcome == "reached_by_phone" and flag.note == "Called, all good" and flag.resolved_by_id == hr.id
    assert rows(client.get("/hr/queue").data.decode()) == []


def test_bad_input_changes_nothing_and_keeps_what_was_typed(app, client, site, hr, now):
    flag = gen_flag(gen_candidate(site, [("passed", now)], owner=hr))
    signed_in(client, hr)
    bad = client.post(
        f"/hr/flags/{flag.id}/resolve", data={"outcome": "nonsense", "note": "Long note typed"}, headers=HX
    )
    assert bad.status_code == 422 and "Long note typed" in bad.data.decode()
    past = client.post(
        f"/hr/flags/{flag.id}/snooze", data={"until": (now - timedelta(days=2)).date().isoformat()}, headers=HX
    )
    assert past.status_code == 422 and "future" in past.data.decode()
    nojs = client.post(f"/hr/flags/{flag.id}/resolve", data={"outcome": "", "note": "Typed without JS"}, headers=EN)
    assert (
        nojs.status_code == 422
        and "Typed without JS" in nojs.data.decode()
        and "Nothing was changed" in nojs.data.decode()
    )
    db.session.refresh(flag)
    assert flag.resolved_at is None and flag.snoozed_until is None


def test_snooze_hides_the_flag_until_its_day(app, client, site, hr, now):
    flag = gen_flag(gen_candidate(site, [("passed", now)], owner=hr))
    signed_in(client, hr)
    until = (now + timedelta(days=3)).date()
    assert client.post(f"/hr/flags/{flag.id}/snooze", data={"until": until.isoformat()}, headers=HX).status_code == 200
    assert rows(client.get("/hr/queue").data.decode()) == []
    db.session.refresh(flag)
    assert flag.snoozed_until.date() in (until, until - timedelta(days=1))  # 09:00 Shanghai is 01:00 UTC


def test_next_stage_from_the_row(app, client, site, hr, now):
    # Really quiet: the move evaluates the candidate's flags at once, and this one still holds.
    candidate = gen_candidate(
        site, [("passed", now - timedelta(days=9))], owner=hr, last_seen_at=now - timedelta(days=4)
    )
    gen_flag(candidate)
    signed_in(client, hr)
    seen_stage = {"from_stage": site["passed"].id}
    moved = client.post(f"/hr/candidates/{candidate.id}/next-stage", data=seen_stage, headers=HX)
    assert moved.status_code == 200
    assert 'class="tier tier-B"' in moved.data.decode()  # the row keeps its tier (once it read "None")
    db.session.refresh(candidate)
    assert candidate.current_stage_id == site["background_check"].id
    # The same click again (a second tab, a double click) must not skip a stage.
    stale = client.post(f"/hr/candidates/{candidate.id}/next-stage", data=seen_stage, headers=HX)
    assert stale.status_code == 409 and "stage has changed" in stale.data.decode()
    assert 'class="tier tier-B"' in stale.data.decode()
    assert stale.data.decode().strip().startswith(f'<tr id="candidate-{candidate.id}"')  # swapped in place, error shown
    db.session.refresh(candidate)
    assert candidate.current_stage_id == site["background_check"].id
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "stage.move")) == 1


def test_next_stage_into_a_stage_that_needs_a_cohort_asks_for_one(app, client, site, hr, now):
    candidate = gen_candidate(
        site, [("passed", now - timedelta(days=9)), ("background_check", now - timedelta(days=8))], owner=hr
    )
    gen_flag(candidate, "company_side_overdue")
    signed_in(client, hr)
    refused = client.post(
        f"/hr/candidates/{candidate.id}/next-stage", data={"from_stage": site["background_check"].id}, headers=HX
    )
    assert refused.status_code == 409 and "needs a training cohort" in refused.data.decode()
    db.session.refresh(candidate)
    assert candidate.current_stage_id == site["background_check"].id


def test_flags_of_other_peoples_candidates_are_404(app, client, site, hr, now):
    other = gen_user("hr", email="other@example.com")
    flag = gen_flag(gen_candidate(site, [("passed", now)], owner=other))
    signed_in(client, hr)
    for action in ("claim", "snooze", "resolve"):
        assert (
            client.post(
                f"/hr/flags/{flag.id}/{action}", data={"outcome": "reassured", "until": "2099-01-01"}
            ).status_code
            == 404
        )
    assert client.post(f"/hr/candidates/{flag.candidate_id}/next-stage", data={"from_stage": ""}).status_code == 404
    db.session.refresh(flag)
    assert flag.claimed_by_id is None and flag.resolved_at is None


def test_queue_needs_login(app, client):
    assert client.get("/hr/queue").status_code == 302
    assert client.get("/hr/queue/badge").status_code == 302


def test_queue_statement_count_is_constant(app, client, site, hr, now):
    from tests.sqlcount import count_statements

    cohort = gen_cohort()
    gen_flag(gen_candidate(site, [("passed", now)], owner=hr, cohort=cohort))
    signed_in(client, hr)
    with count_statements() as few:
        client.get("/hr/queue")
    for index in range(20):
        gen_flag(
            gen_candidate(site, [("passed", now)], owner=hr, cohort=gen_cohort(name=f"C{index}"), name=f"N{index}"),
            severity=("warning", "urgent")[index % 2],
        )
    with count_statements() as many:
        client.get("/hr/queue")
    assert len(few) == len(many), "\n".join(many)


def test_next_stage_is_refused_for_someone_who_left(app, client, site, hr, now):
    candidate = gen_candidate(site, [("passed", now)], owner=hr, status="left")
    signed_in(client, hr)
    response = client.post(
        f"/hr/candidates/{candidate.id}/next-stage", data={"from_stage": site["passed"].id}, headers=HX
    )
    assert response.status_code == 409 and "re-activate them first" in response.data.decode()
    db.session.refresh(candidate)
    assert candidate.current_stage_id == site["passed"].id


def test_no_answer_keeps_the_flag_and_brings_it_back_next_morning(app, client, site, hr, now):
    flag = gen_flag(gen_candidate(site, [("passed", now)], owner=hr))
    signed_in(client, hr)
    client.post(f"/hr/flags/{flag.id}/resolve", data={"outcome": "no_answer", "note": "rang twice"}, headers=HX)
    db.session.refresh(flag)
    assert flag.resolved_at is None and flag.note == "rang twice"
    assert flag.snoozed_until == next_working_morning(now)  # a weekend or a holiday in between is skipped
    assert rows(client.get("/hr/queue").data.decode()) == []  # hidden until then


def test_history_restore_gets_the_whole_page(app, client, site, hr, now):
    gen_flag(gen_candidate(site, [("passed", now)], owner=hr))
    signed_in(client, hr)
    restore = client.get("/hr/queue?severity=warning", headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.data.decode() and 'id="queue-list"' in restore.data.decode()


@pytest.mark.parametrize("page", ["99999999999999999999", "-3", "abc"])
def test_absurd_page_numbers_are_harmless(app, client, hr, page):
    signed_in(client, hr)
    assert client.get(f"/hr/queue?page={page}").status_code == 200
    assert client.get(f"/hr/?page={page}").status_code == 200


def test_a_snooze_date_that_does_not_parse_says_so_and_keeps_the_form_open(app, client, site, hr, now):
    flag = gen_flag(gen_candidate(site, [("passed", now)], owner=hr))
    signed_in(client, hr)
    answer = client.post(f"/hr/flags/{flag.id}/snooze", data={"until": "31/02/2027"}, headers=HX)
    html = answer.data.decode()
    assert answer.status_code == 422 and "Not a valid date value" in html
    assert re.search(r"<details open><summary>Snooze", html) and 'value="31/02/2027"' in html
    assert re.search(r'type="date" name="until" required min="\d{4}-\d\d-\d\d" max="\d{4}-\d\d-\d\d"', html)
