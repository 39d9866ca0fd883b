"""Candidates start, leave and come back (issue 11)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Flag, PortalLink, Reason, StageEvent
from portal.services.leaving import LeavingError, mark_left, mark_started, reactivate
from portal.services.scan import run_scan
from tests.builders import gen_candidate, gen_flag, gen_link, gen_reasons, gen_user


@pytest.fixture
def hr(app):
    gen_reasons()
    return gen_user("hr", email="hr@example.com", name="Zhou")


def _reason(label_en: str) -> Reason:
    return db.session.scalars(sa.select(Reason).where(Reason.label_en == label_en)).one()


def test_leaving_closes_flags_with_the_reason_and_revokes_every_link(app, client, site, hr, now):
    candidate = gen_candidate(
        site, [("passed", now - timedelta(days=9))], owner=hr, last_seen_at=now - timedelta(days=8)
    )
    token = gen_link(candidate, now=now - timedelta(days=9))
    flag = gen_flag(candidate, now=now)
    assert client.get(f"/c/{token}").status_code == 303
    mark_left(candidate, kind="declined", reason_id=_reason("Distance").id, actor=hr, now=now, note="2 hours by bus")
    db.session.commit()
    db.session.refresh(flag)
    assert (flag.resolved_at, flag.outcome, flag.note, flag.resolved_by_id) == (now, "withdrew", "Distance", hr.id)
    assert candidate.status == "left" and candidate.left_note == "2 hours by bus"
    assert db.session.scalar(sa.select(sa.func.count()).where(PortalLink.revoked_at.is_(None))) == 0
    assert client.get("/me").status_code == 404  # the same answer as any unknown link
    assert client.get(f"/c/{token}").status_code == 404
    # The scan watches active candidates only: nothing comes back however quiet they are.
    run_scan(now + timedelta(days=30))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).where(Flag.resolved_at.is_(None))) == 0


def test_leaving_is_refused_with_a_retired_reason_or_a_past_recontact_date(app, site, hr, now):
    candidate = gen_candidate(site, [("passed", now)], owner=hr)
    retired = _reason("Pay")
    retired.retired_at = now
    db.session.commit()
    for kwargs in (
        {"kind": "declined", "reason_id": retired.id},
        {"kind": "declined", "reason_id": 10**6},
        {"kind": "sleeping", "reason_id": _reason("Family").id},
        {"kind": "declined", "reason_id": _reason("Family").id, "recontact_on": (now - timedelta(days=2)).date()},
    ):
        with pytest.raises(LeavingError):
            mark_left(candidate, actor=hr, now=now, **kwargs)
        db.session.rollback()
        assert candidate.status == "active", kwargs


def test_started_candidates_leave_the_rules_and_their_flags_close(app, site, hr, now):
    candidate = gen_candidate(
        site, [("passed", now - timedelta(days=9))], owner=hr, last_seen_at=now - timedelta(days=8)
    )
    flag = gen_flag(candidate, now=now)
    mark_started(candidate, actor=hr, now=now)
    db.session.commit()
    db.session.refresh(flag)
    assert candidate.status == "started" and candidate.started_at == now
    assert flag.resolved_at == now and flag.outcome == "cleared"
    with pytest.raises(LeavingError):
        mark_left(candidate, kind="withdrew", reason_id=_reason("Other").id, actor=hr, now=now)


def test_reactivation_keeps_the_history(app, site, hr, now):
    candidate = gen_candidate(
        site, [("passed", now - timedelta(days=30)), ("background_check", now - timedelta(days=29))], owner=hr
    )
    later = (now + timedelta(days=60)).date()
    mark_left(
        candidate, kind="withdrew", reason_id=_reason("The wait was too long").id, actor=hr, now=now, recontact_on=later
    )
    db.session.commit()
    assert candidate.recontact_on == later
    back = now + timedelta(days=1)
    reactivate(candidate, site["passed"], actor=hr, now=back, note="wants to try again")
    db.session.commit()
    assert candidate.status == "active" and candidate.recontact_on is None
    assert candidate.current_stage_id == site["passed"].id
    stages = db.session.scalars(
        sa.select(StageEvent.stage_id).where(StageEvent.candidate_id == candidate.id).order_by(StageEvent.id)
    ).all()
    assert stages == [site["passed"].id, site["background_check"].id, site["passed"].id]
    actions = db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-3:] == ["candidate.left", "candidate.reactivated", "stage.move"]
    with pytest.raises(LeavingError):
        reactivate(candidate, site["passed"], actor=hr, now=back)
