"""HR's page for one candidate (issue 11): the whole story, and moving them through stages."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import EngagementEvent, StageEvent
from tests.builders import gen_candidate, gen_cohort, gen_flag, gen_link, gen_reasons, gen_user, open_page, signed_in


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


def test_the_page_tells_the_whole_story(app, client, site, hr, now):
    candidate = gen_candidate(site, [("passed", now - timedelta(days=3))], owner=hr, phone="+8613900000000")
    gen_flag(candidate, now=now)
    closed = gen_flag(candidate, "link_not_opened", now=now, resolved_at=now, outcome="reached_by_phone", note="called")
    gen_link(candidate, now=now)
    signed_in(client, hr)
    page = client.get(f"/hr/candidates/{candidate.id}", headers={"Accept-Language": "en"})
    html = page.data.decode()
    assert page.status_code == 200
    for text in ("王小明", "+8613900000000", "Interview passed", "called", "Move to a stage", "works"):
        assert text in html, text
    assert closed.note in html


def test_other_peoples_candidates_are_404_like_missing_ones(app, client, site, hr, now):
    other = gen_user("hr", email="other@example.com")
    theirs = gen_candidate(site, [("passed", now)], owner=other)
    unowned = gen_candidate(site, [("passed", now)], name="没人管")
    signed_in(client, hr)
    assert client.get(f"/hr/candidates/{theirs.id}").status_code == 404
    assert client.get("/hr/candidates/999999").status_code == 404
    assert client.get(f"/hr/candidates/{unowned.id}").status_code == 200
    stage = {"stage": site["background_check"].id, "cohort": "", "note": ""}
    assert client.post(f"/hr/candidates/{theirs.id}/stage", data=stage).status_code == 404
    assert client.get("/hr/candidates/1").status_code in (200, 404)  # whichever: never 403
    admin = gen_user("admin", email="boss@example.com")
    client.post("/hr/logout")
    signed_in(client, admin)
    assert client.get(f"/hr/candidates/{theirs.id}").status_code == 200


def test_moving_a_stage_shows_on_both_pages(app, site, hr, now):
    candidate = gen_candidate(site, [("passed", now - timedelta(days=3))], owner=hr)
    phone = app.test_client()
    assert "Interview passed" in open_page(phone, candidate, **{"Accept-Language": "en"}).data.decode()
    office = app.test_client()
    signed_in(office, hr)
    moved = office.post(
        f"/hr/candidates/{candidate.id}/stage",
        data={"stage": site["background_check"].id, "cohort": "", "note": "ID checked", "reached_at": ""},
    )
    assert moved.status_code == 303
    html = office.get(moved.headers["Location"], headers={"Accept-Language": "en"}).data.decode()
    assert "ID checked" in html and "Zhou" in html
    assert "Background check" in phone.get("/me", headers={"Accept-Language": "en"}).data.decode()


def test_a_refused_move_says_why_and_keeps_what_was_typed(app, client, site, hr, now):
    candidate = gen_candidate(site, [("passed", now - timedelta(days=3))], owner=hr)
    signed_in(client, hr)
    future = (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    for data, message in (
        ({"stage": site["training_notice"].id, "note": "my typed note", "reached_at": ""}, "comes first"),
        ({"stage": site["background_check"].id, "note": "my typed note", "reached_at": future}, "future"),
        ({"stage": site["background_check"].id, "note": "my typed note", "reached_at": "yesterday"}, "Not a valid"),
        ({"stage": 10**6, "note": "my typed note", "reached_at": ""}, "Not a valid choice"),
    ):
        refused = client.post(
            f"/hr/candidates/{candidate.id}/stage", data={"cohort": "", **data}, headers={"Accept-Language": "en"}
        )
        assert refused.status_code == 422, data
        assert message in refused.data.decode() and "my typed note" in refused.data.decode(), data
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StageEvent)) == 1


def test_choosing_a_cohort_with_a_stage_that_needs_one(app, client, site, hr, now):
    candidate = gen_candidate(
        site, [("passed", now - timedelta(days=9)), ("background_check", now - timedelta(days=8))], owner=hr
    )
    cohort = gen_cohort(name="January")
    signed_in(client, hr)
    form = {"stage": site["training_notice"].id, "note": "", "reached_at": ""}
    refused = client.post(f"/hr/candidates/{candidate.id}/stage", data={**form, "cohort": ""})
    assert refused.status_code == 422 and "January" in refused.data.decode()  # the form offers the cohorts
    assert client.post(f"/hr/candidates/{candidate.id}/stage", data={**form, "cohort": cohort.id}).status_code == 303
    db.session.refresh(candidate)
    assert (candidate.current_stage_id, candidate.cohort_id) == (site["training_notice"].id, cohort.id)


def test_the_page_costs_the_same_statements_whatever_the_history(app, client, site, hr, now):
    from tests.sqlcount import count_statements

    short = gen_candidate(site, [("passed", now)], owner=hr)
    long = gen_candidate(site, [("passed", now - timedelta(days=9))], owner=hr, name="老朋友")
    db.session.execute(
        sa.insert(EngagementEvent),
        [
            {"candidate_id": long.id, "kind": "view", "target": "page", "occurred_at": now - timedelta(minutes=i)}
            for i in range(300)
        ],
    )
    for _ in range(30):
        gen_flag(long, now=now, resolved_at=now, outcome="cleared")
        gen_link(long, now=now)
    db.session.commit()
    signed_in(client, hr)
    with count_statements() as few:
        assert client.get(f"/hr/candidates/{short.id}").status_code == 200
    with count_statements() as many:
        assert client.get(f"/hr/candidates/{long.id}").status_code == 200
    assert len(few) == len(many), "\n".join(few) + "\n----\n" + "\n".join(many)


def test_leaving_from_the_page_and_the_talent_pool(app, client, site, hr, now):
    from portal.models import Reason

    gen_reasons()
    other = gen_user("hr", email="other@example.com")
    leaving = gen_candidate(site, [("passed", now - timedelta(days=5))], owner=hr, name="要走的")
    theirs = gen_candidate(site, [("passed", now - timedelta(days=5))], owner=other, name="别人的")
    distance = db.session.scalars(sa.select(Reason).where(Reason.label_en == "Distance")).one()
    later = (now + timedelta(days=40)).date()
    signed_in(client, hr)
    en = {"Accept-Language": "en"}
    form = {
        "leave-kind": "declined",
        "leave-reason": distance.id,
        "leave-recontact_on": later.isoformat(),
        "leave-note": "moving house",
    }
    refused = client.post(f"/hr/candidates/{leaving.id}/left", data={**form, "leave-reason": ""}, headers=en)
    assert refused.status_code == 422 and "moving house" in refused.data.decode()
    assert client.post(f"/hr/candidates/{theirs.id}/left", data=form).status_code == 404
    assert client.post(f"/hr/candidates/{leaving.id}/left", data=form).status_code == 303
    page = client.get(f"/hr/candidates/{leaving.id}", headers=en).data.decode()
    assert "Declined the offer" in page and "Distance" in page and "Re-activate" in page
    pool = client.get("/hr/talent-pool", headers=en).data.decode()
    assert "要走的" in pool and "别人的" not in pool
    back = client.post(f"/hr/candidates/{leaving.id}/reactivate", data={"back-stage": site["passed"].id})
    assert back.status_code == 303
    assert "要走的" not in client.get("/hr/talent-pool").data.decode()
    db.session.refresh(leaving)
    assert leaving.status == "active"


def test_revoke_all_links_and_the_tier_explained(app, site, hr, now):
    from portal.models import AuditEvent

    candidate = gen_candidate(
        site, [("passed", now - timedelta(days=9))], owner=hr, last_seen_at=now - timedelta(days=4)
    )
    gen_flag(candidate, now=now)  # gone quiet, and it still holds
    phone = app.test_client()
    assert open_page(phone, candidate).status_code == 200
    office = app.test_client()
    signed_in(office, hr)
    en = {"Accept-Language": "en"}
    page = office.get(f"/hr/candidates/{candidate.id}", headers=en).data.decode()
    assert '<br><span class="muted">Gone quiet</span>' in page  # the open flag's rule beside the tier
    assert "What A–D mean" in page and "urgent for 7 days" in page
    assert office.post(f"/hr/candidates/{candidate.id}/links/revoke").status_code == 303
    assert phone.get("/me").status_code == 404
    audit = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "link.revoke_all")).one()
    assert audit.detail == "1 revoked"
