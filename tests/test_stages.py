"""Moving a candidate through the pipeline: one service, checked against the pipeline (issue 11)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Flag, StageEvent
from portal.services.stages import StageError, move_to_stage
from tests.builders import gen_candidate, gen_cohort, gen_flag, gen_user


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


def app_english():
    from flask import current_app

    return current_app.test_request_context("/", headers={"Cookie": "lang=en"})


def _events(candidate):
    return db.session.scalars(
        sa.select(StageEvent).where(StageEvent.candidate_id == candidate.id).order_by(StageEvent.id)
    ).all()


def _refused(candidate, stage, message, **kwargs):
    before = (candidate.current_stage_id, candidate.cohort_id, len(_events(candidate)))
    with app_english(), pytest.raises(StageError, match=message):
        move_to_stage(candidate, stage, **kwargs)
    db.session.rollback()
    db.session.refresh(candidate)
    assert (candidate.current_stage_id, candidate.cohort_id, len(_events(candidate))) == before


def test_a_move_records_who_when_and_why(app, site, hr, now):
    candidate = gen_candidate(site, [("passed", now - timedelta(days=3))], owner=hr)
    back_then = now - timedelta(days=1)
    move_to_stage(candidate, site["background_check"], actor=hr, now=now, reached_at=back_then, note="checked ID")
    db.session.commit()
    event = _events(candidate)[-1]
    assert (event.stage_id, event.actor_id, event.note) == (site["background_check"].id, hr.id, "checked ID")
    assert event.reached_at == back_then and candidate.stage_reached_at == back_then
    assert candidate.current_stage_id == site["background_check"].id
    audit = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "stage.move")).one()
    assert (audit.actor_user_id, audit.detail) == (hr.id, "to background_check")


def test_a_move_into_the_future_is_refused(app, site, hr, now):
    candidate = gen_candidate(site, [("passed", now - timedelta(days=3))], owner=hr)
    _refused(candidate, site["background_check"], "future", actor=hr, now=now, reached_at=now + timedelta(minutes=5))


def test_a_required_stage_cannot_be_skipped_an_optional_one_can(app, site, hr, now):
    candidate = gen_candidate(site, [("passed", now - timedelta(days=3))], owner=hr, cohort=gen_cohort())
    _refused(candidate, site["training_notice"], "Background check comes first", actor=hr, now=now)
    site["background_check"].required = False
    db.session.commit()
    move_to_stage(candidate, site["training_notice"], actor=hr, now=now)
    assert candidate.current_stage_id == site["training_notice"].id


def test_a_stage_that_needs_a_cohort_is_not_reached_without_one(app, site, hr, now):
    assert site["training_notice"].needs_cohort and not site["background_check"].needs_cohort
    candidate = gen_candidate(site, [("passed", now - timedelta(days=9)), ("background_check", now)], owner=hr)
    _refused(candidate, site["training_notice"], "needs a training cohort", actor=hr, now=now)
    _refused(candidate, site["training_notice"], "does not exist", actor=hr, now=now, cohort_id=10**6)
    cohort = gen_cohort()
    move_to_stage(candidate, site["training_notice"], actor=hr, now=now, cohort_id=cohort.id)
    db.session.commit()
    assert (candidate.current_stage_id, candidate.cohort_id) == (site["training_notice"].id, cohort.id)


def test_a_move_evaluates_the_candidates_flags_at_once(app, site, hr, now):
    late = gen_candidate(
        site, [("passed", now - timedelta(days=20)), ("background_check", now - timedelta(days=10))], owner=hr
    )
    overdue = gen_flag(late, "company_side_overdue", now=now)
    untouched = gen_flag(gen_candidate(site, [("passed", now - timedelta(days=20))], name="别人"), now=now)
    move_to_stage(late, site["training_notice"], actor=hr, now=now, cohort_id=gen_cohort().id)
    db.session.commit()
    db.session.refresh(overdue)
    db.session.refresh(untouched)
    assert overdue.resolved_at == now and overdue.outcome == "cleared"  # our step is done: the flag closes
    assert untouched.resolved_at is None  # someone else's flag waits for the scan

    # Back-dating a company-side step past its expected days raises the flag at once.
    fresh = gen_candidate(site, [("passed", now - timedelta(days=20))], owner=hr, name="李四")
    move_to_stage(fresh, site["background_check"], actor=hr, now=now, reached_at=now - timedelta(days=8))
    db.session.commit()
    raised = db.session.scalars(sa.select(Flag).where(Flag.candidate_id == fresh.id)).all()
    assert [(flag.rule, flag.resolved_at) for flag in raised] == [("company_side_overdue", None)]
