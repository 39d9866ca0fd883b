"""HR keep a candidate's profile, tags and internal notes; the page draws 30 days of activity."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, CandidateNote, EngagementEvent
from portal.services.candidates import CandidateError, parse_tags, update_profile
from tests.builders import gen_candidate, gen_link, gen_user, signed_in

EN = {"Accept-Language": "en"}


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


def profile(candidate, **changes):
    fields = {
        "name": candidate.name,
        "phone": candidate.phone or "",
        "email": candidate.email or "",
        "position": candidate.position,
        "site": candidate.site,
        "source_channel": candidate.source_channel,
        "owner": str(candidate.owner_id or ""),
        "tags": ", ".join(candidate.tags or []),
        **changes,
    }
    return {f"profile-{name}": value for name, value in fields.items()}


def test_editing_the_profile_normalises_and_audits_the_fields_not_their_values(app, client, site, hr, now):
    candidate = gen_candidate(site, [("passed", now)], owner=hr, phone="+8613900000001", tags=[])
    signed_in(client, hr)
    answer = client.post(
        f"/hr/candidates/{candidate.id}/profile",
        data=profile(candidate, phone="139 0000 0002", email="Li@Example.COM", tags="夜班，weekend, 夜班"),
    )
    assert answer.status_code == 303
    db.session.refresh(candidate)
    assert (candidate.phone, candidate.email, candidate.tags) == (
        "+8613900000002",
        "li@example.com",
        ["夜班", "weekend"],
    )
    audit = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "candidate.edit")).one()
    assert audit.detail == "phone, email, tags" and "139" not in audit.detail
    page = client.get(f"/hr/candidates/{candidate.id}", headers=EN).data.decode()
    assert '<span class="tag">夜班</span>' in page


def test_a_duplicate_phone_is_refused_with_a_link_or_a_word_about_a_colleague(app, client, site, hr, now):
    mine = gen_candidate(site, [("passed", now)], owner=hr, phone="+8613900000001", name="Mine")
    visible = gen_candidate(site, [("passed", now)], phone="+8613900000002", name="Unowned")
    colleague = gen_user("hr", email="other@example.com")
    gen_candidate(site, [("passed", now)], owner=colleague, email="x@example.com", name="Theirs")
    signed_in(client, hr)
    refused = client.post(f"/hr/candidates/{mine.id}/profile", data=profile(mine, phone="13900000002"), headers=EN)
    html = refused.data.decode()
    assert refused.status_code == 409 and f'href="/hr/candidates/{visible.id}"' in html
    assert 'value="13900000002"' in html  # what was typed stays
    hidden = client.post(f"/hr/candidates/{mine.id}/profile", data=profile(mine, email="X@example.com"), headers=EN)
    assert hidden.status_code == 409 and "A colleague already looks after them" in hidden.data.decode()
    db.session.refresh(mine)
    assert (mine.phone, mine.email) == ("+8613900000001", None)


def test_owner_rules_hr_take_or_leave_admins_assign(app, site, hr, now):
    colleague = gen_user("hr", email="other@example.com")
    admin = gen_user("admin", email="boss@example.com")
    candidate = gen_candidate(site, [("passed", now)], owner=hr, phone="+8613900000001")
    with pytest.raises(CandidateError):
        update_profile(candidate, actor=hr, now=now, owner_id=colleague.id)
    db.session.rollback()
    assert update_profile(candidate, actor=hr, now=now, owner_id=None) == ["owner_id"]
    assert update_profile(candidate, actor=admin, now=now, owner_id=colleague.id) == ["owner_id"]
    with pytest.raises(CandidateError):  # nobody reachable any more
        update_profile(candidate, actor=admin, now=now, phone=None, email=None)


def test_giving_a_candidate_away_leaves_the_page(app, client, site, hr, now):
    candidate = gen_candidate(site, [("passed", now)], owner=hr, phone="+8613900000001")
    signed_in(client, hr)
    answer = client.post(f"/hr/candidates/{candidate.id}/profile", data=profile(candidate, owner=""))
    assert answer.status_code == 303 and answer.headers["Location"].endswith(
        "#profile-title"
    )  # unassigned: still theirs
    colleague = gen_user("hr", email="other@example.com")
    forged = client.post(f"/hr/candidates/{candidate.id}/profile", data=profile(candidate, owner=str(colleague.id)))
    assert forged.status_code == 422  # not among HR's choices
    db.session.refresh(candidate)
    assert candidate.owner_id is None


def test_tags_are_limited():
    assert parse_tags(" a ,  b  c ,,a\nd ") == ["a", "b c", "d"]
    with pytest.raises(CandidateError):
        parse_tags(",".join(str(n) for n in range(11)))
    with pytest.raises(CandidateError):
        parse_tags("x" * 31)


def test_internal_notes_are_kept_as_typed_and_paged(app, client, site, hr, now):
    candidate = gen_candidate(site, [("passed", now)], owner=hr)
    signed_in(client, hr)
    assert (
        client.post(f"/hr/candidates/{candidate.id}/notes", data={"note-body": "<b>家里</b> 有事"}).status_code == 303
    )
    empty = client.post(f"/hr/candidates/{candidate.id}/notes", data={"note-body": "   "}, headers=EN)
    assert empty.status_code == 422
    page = client.get(f"/hr/candidates/{candidate.id}", headers=EN).data.decode()
    assert "&lt;b&gt;家里&lt;/b&gt; 有事" in page
    assert db.session.scalar(sa.select(CandidateNote.body)) == "<b>家里</b> 有事"


def test_the_activity_strip_counts_visits_per_local_day(app, client, site, hr, now):
    candidate = gen_candidate(site, [("passed", now - timedelta(days=40))], owner=hr)
    events = [now - timedelta(minutes=5)] * 3 + [now - timedelta(days=2)] + [now - timedelta(days=31)]
    db.session.execute(
        sa.insert(EngagementEvent),
        [{"candidate_id": candidate.id, "kind": "view", "target": "page", "occurred_at": at} for at in events]
        + [{"candidate_id": candidate.id, "kind": "prefetch", "target": "page", "occurred_at": now}],
    )
    db.session.commit()
    signed_in(client, hr)
    html = client.get(f"/hr/candidates/{candidate.id}", headers=EN).data.decode()
    assert "Last 30 days — visits and ticks: 4; days with any: 2; the most on one day: 3." in html
    assert len(re.findall(r"<rect ", html)) == 30
    assert "<script" not in html.split('<figure class="strip">')[1].split("</figure>")[0]


def test_staff_changes_read_in_the_readers_language(app, client, site, hr, now):
    from portal.services.contacts import log_contact
    from portal.services.links import issue_link
    from portal.services.stages import move_to_stage

    candidate = gen_candidate(site, [("passed", now - timedelta(days=2))], owner=hr, phone="+8613900000001")
    move_to_stage(candidate, site["background_check"], actor=hr, now=now)
    log_contact(candidate, channel="wechat", outcome="reached", actor=hr, now=now)
    update_profile(candidate, actor=hr, now=now, tags=["夜班"])
    gen_link(candidate, now=now)
    issue_link(candidate, "qr", now=now, issued_by_id=hr.id, revoke_others=True)
    db.session.commit()
    signed_in(client, hr)
    html = client.get(f"/hr/candidates/{candidate.id}", headers={"Accept-Language": "zh-CN"}).data.decode()
    history = html.split('id="history-title"')[1]
    assert "背景调查" in history and "微信 · 已联系上" in history and "(标签)" in history
    assert "二维码 / 手动 · 已作废之前的链接" in history
    assert "background_check" not in history and "wechat" not in history and "revoked" not in history


def test_a_refused_form_pages_and_switches_language_on_the_candidates_page(app, client, site, hr, now):
    candidate = gen_candidate(site, [("passed", now)], owner=hr, phone="+8613900000001")
    db.session.execute(
        sa.insert(EngagementEvent),
        [
            {"candidate_id": candidate.id, "kind": "view", "target": "page", "occurred_at": now - timedelta(hours=i)}
            for i in range(30)
        ],
    )
    db.session.commit()
    signed_in(client, hr)
    refused = client.post(f"/hr/candidates/{candidate.id}/notes", data={"note-body": ""}, headers=EN)
    html = refused.data.decode()
    assert refused.status_code == 422
    assert f'href="/hr/candidates/{candidate.id}?visits=2"' in html
    assert f'name="next" value="/hr/candidates/{candidate.id}"' in html  # the language switch comes back here
