"""The risk scan, rule by rule, with an injected clock: raise once, escalate, episodes, auto-close."""

from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Candidate, Flag
from portal.models.flags import Outcome, derived_tier
from portal.services import scan as scan_module
from portal.services.flags import resolve_flag
from portal.services.links import revoke_links
from portal.services.scan import run_scan
from tests.builders import gen_candidate, gen_cohort, gen_link, gen_user

DAY = timedelta(days=1)


def scan(now, **kwargs):
    result = run_scan(now, **kwargs)
    db.session.commit()
    return result


def open_flags(rule=None):
    query = sa.select(Flag).where(Flag.resolved_at.is_(None)).order_by(Flag.id)
    if rule:
        query = query.where(Flag.rule == rule)
    return db.session.scalars(query).all()


def seen(candidate, at):
    candidate.last_seen_at = at
    db.session.commit()


def quiet_candidate(site, days, now, **fields):
    candidate = gen_candidate(site, [("passed", now - 20 * DAY)], **fields)
    seen(candidate, now - days * DAY)
    return candidate


def test_gone_quiet_raises_once_escalates_and_clears(app, site, now):
    candidate = quiet_candidate(site, 4, now)
    quiet_candidate(site, 2, now, name="Recent visitor")
    assert scan(now).rules["gone_quiet"].raised == 1
    [flag] = open_flags("gone_quiet")
    assert (flag.candidate_id, flag.severity, flag.evidence_at) == (candidate.id, "warning", now - 4 * DAY)
    assert scan(now + timedelta(hours=1)).rules["gone_quiet"].raised == 0  # never twice for one cause
    later = scan(now + 4 * DAY)
    assert (later.rules["gone_quiet"].escalated, later.rules["gone_quiet"].raised) == (1, 1)  # + the recent one
    escalated = db.session.get(Flag, flag.id)
    db.session.refresh(escalated)
    assert escalated.severity == "urgent" and escalated.raised_at == now
    seen(candidate, now + 4 * DAY)  # the candidate came back
    assert scan(now + 4 * DAY + timedelta(minutes=5)).rules["gone_quiet"].closed == 1
    db.session.refresh(escalated)
    assert escalated.outcome == Outcome.CLEARED and escalated.resolved_at is not None


def test_link_not_opened_after_24_hours(app, site, now):
    waiting = gen_candidate(site, [("passed", now - 3 * DAY)])
    gen_link(waiting, now=now - 25 * timedelta(hours=1))
    fresh = gen_candidate(site, [("passed", now - 3 * DAY)], name="Fresh")
    gen_link(fresh, now=now - 23 * timedelta(hours=1))
    opened = gen_candidate(site, [("passed", now - 3 * DAY)], name="Opened")
    gen_link(opened, now=now - 30 * timedelta(hours=1))
    seen(opened, now - 2 * timedelta(hours=1))
    scan(now)
    assert [f.candidate_id for f in open_flags("link_not_opened")] == [waiting.id]
    # A newer link starts a new wait: the old flag clears, and 24 h later the new link is flagged.
    gen_link(waiting, now=now)
    assert scan(now + timedelta(minutes=1)).rules["link_not_opened"].closed == 1
    assert scan(now + 25 * timedelta(hours=1)).rules["link_not_opened"].raised >= 1
    assert sorted(f.candidate_id for f in open_flags("link_not_opened")) == sorted([waiting.id, fresh.id])
    # Every link revoked: nothing is left to open, so the flag clears.
    revoke_links(waiting.id, now=now + 26 * timedelta(hours=1))
    db.session.commit()
    assert scan(now + 26 * timedelta(hours=1)).rules["link_not_opened"].closed == 1
    assert [f.candidate_id for f in open_flags("link_not_opened")] == [fresh.id]


def test_training_notice_not_seen_two_days_before_start(app, site, now):
    soon = gen_cohort(starts_on=(now + DAY).astimezone(scan_module.ZoneInfo("Asia/Shanghai")).date())
    later = gen_cohort(starts_on=(now + 6 * DAY).date(), name="Later")
    unseen = gen_candidate(site, [("passed", now - 9 * DAY), ("training_notice", now - DAY)], cohort=soon)
    seen(unseen, now - 2 * DAY)  # saw the page, but before the notice
    read = gen_candidate(site, [("passed", now - 9 * DAY), ("training_notice", now - DAY)], cohort=soon, name="Read")
    seen(read, now - timedelta(hours=2))
    gen_candidate(
        site, [("passed", now - 9 * DAY), ("training_notice", now - DAY)], cohort=later, name="Plenty of time"
    )
    scan(now)
    [flag] = open_flags("training_notice_not_seen")
    assert (flag.candidate_id, flag.severity) == (unseen.id, "urgent")


def test_company_side_overdue(app, site, now):
    overdue = gen_candidate(site, [("passed", now - 9 * DAY), ("background_check", now - 6 * DAY)])
    gen_candidate(site, [("passed", now - 9 * DAY), ("background_check", now - 4 * DAY)], name="In time")
    gen_candidate(site, [("passed", now - 9 * DAY)], name="Candidate side")
    scan(now)
    [flag] = open_flags("company_side_overdue")
    assert flag.candidate_id == overdue.id and flag.evidence_at == now - 6 * DAY
    from portal.services.stages import advance_stage

    advance_stage(overdue, site["training_notice"], now=now)
    db.session.commit()
    assert scan(now + timedelta(minutes=1)).rules["company_side_overdue"].closed == 1


def resolve(flag, at, outcome="reached_by_phone"):
    flag.resolved_at, flag.outcome = at, outcome
    db.session.commit()


def test_resolved_by_hr_stays_resolved_for_the_episode(app, site, now):
    candidate = quiet_candidate(site, 4, now)
    scan(now)
    [flag] = open_flags()
    resolve(flag, now + timedelta(hours=1))
    assert scan(now + 2 * DAY).rules["gone_quiet"].raised == 0  # same silence, still warning
    seen(candidate, now + 2 * DAY)  # came back after the resolution ...
    scan(now + 2 * DAY)
    assert open_flags() == []
    assert scan(now + 6 * DAY).rules["gone_quiet"].raised == 1  # ... and went quiet again: a new episode


def test_resolved_warning_returns_when_it_becomes_urgent(app, site, now):
    quiet_candidate(site, 4, now)
    scan(now)
    resolve(open_flags()[0], now + timedelta(hours=1))
    result = scan(now + 4 * DAY)  # 8 days of silence now
    assert result.rules["gone_quiet"].raised == 1
    assert open_flags()[0].severity == "urgent"


def test_snoozed_flag_stays_single_and_still_clears(app, site, now):
    candidate = quiet_candidate(site, 4, now)
    scan(now)
    flag = open_flags()[0]
    flag.snoozed_until = now + 2 * DAY
    db.session.commit()
    assert scan(now + DAY).rules["gone_quiet"].raised == 0
    seen(candidate, now + DAY)
    assert scan(now + DAY + timedelta(minutes=1)).rules["gone_quiet"].closed == 1


def test_candidates_who_left_or_started_drop_out_of_the_queue(app, site, now):
    candidate = quiet_candidate(site, 4, now)
    scan(now)
    candidate.status = "left"
    db.session.commit()
    assert scan(now).rules["gone_quiet"].closed == 1


def test_dry_run_counts_and_writes_nothing(app, site, now):
    quiet_candidate(site, 4, now)
    quiet_candidate(site, 9, now, name="Very quiet")
    result = scan(now, dry_run=True)
    assert result.rules["gone_quiet"].raised == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Flag)) == 0


def test_a_failing_rule_does_not_stop_the_others(app, site, monkeypatch, caplog, now):
    quiet_candidate(site, 4, now)

    def broken(now, config):
        raise RuntimeError("rule exploded")

    rules = (scan_module.Rule("broken", "Broken", "Broken", broken, str),) + scan_module.RULES
    monkeypatch.setattr(scan_module, "RULES", rules)
    result = scan(now)
    assert result.failed == ["broken"] and "rule exploded" in result.rules["broken"].error
    assert result.rules["gone_quiet"].raised == 1
    assert "risk rule broken failed" in caplog.text


def test_scan_statement_count_does_not_grow_with_candidates(app, site, now):
    from tests.sqlcount import count_statements

    quiet_candidate(site, 4, now)
    with count_statements() as few:
        scan(now)
    for index in range(30):
        quiet_candidate(site, 4 + index % 6, now, name=f"Q{index}")
    with count_statements() as many:
        scan(now + timedelta(minutes=1))
    assert len(few) == len(many)


def test_cli_scan_prints_what_it_did(app, site, now):
    quiet_candidate(site, 4, now)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["scan", "--dry-run"])
    assert dry.exit_code == 0 and "gone_quiet" in dry.output and "would raise 1" in dry.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Flag)) == 0
    real = runner.invoke(args=["scan"])
    assert real.exit_code == 0 and "raised 1" in real.output
    assert len(open_flags()) == 1


def test_demo_quiet_and_overdue_candidates_are_flagged(app, now):
    from portal.demo import load_demo

    load_demo()
    scan(now)
    rules = {f.rule for f in open_flags()}
    assert {"gone_quiet", "company_side_overdue"} <= rules


def tier_of(candidate, now):
    return db.session.scalar(sa.select(derived_tier(Candidate.id, now)).where(Candidate.id == candidate.id))


def test_tiers_follow_open_risk_flags(app, site, now):
    calm = quiet_candidate(site, 1, now, name="Calm")
    warned = quiet_candidate(site, 4, now, name="Warned")
    both = quiet_candidate(site, 4, now, name="Two warnings")
    both.current_stage_id, both.stage_reached_at = site["background_check"].id, now - 6 * DAY
    db.session.commit()
    urgent = quiet_candidate(site, 8, now, name="Urgent")
    scan(now)
    assert [tier_of(c, now) for c in (calm, warned, both, urgent)] == ["A", "B", "C", "C"]
    # Urgent for 7 days and more (counted to the moment of reading): likely lost.
    [flag] = open_flags_of(urgent)
    flag.urgent_since = now - 7 * DAY - timedelta(minutes=1)
    db.session.commit()
    assert tier_of(urgent, now) == "D"
    # Back to A as soon as the flags close, without waiting for anything else to run.
    resolve_flag(flag, gen_user(), outcome="reached_by_phone", note="", now=now)
    db.session.commit()
    assert tier_of(urgent, now) == "A"
    # A snoozed flag is still open: it still counts.
    [warning] = open_flags_of(warned)
    warning.snoozed_until = now + DAY
    db.session.commit()
    assert tier_of(warned, now) == "B"


def open_flags_of(candidate):
    return [f for f in open_flags() if f.candidate_id == candidate.id]


def test_the_scan_writes_flags_only(app, site, now):
    from tests.sqlcount import count_statements

    quiet_candidate(site, 4, now)
    scan(now)
    with count_statements() as statements:
        scan(now + timedelta(minutes=1))
    # Close + escalate per rule, and on SQLite the no-op UPDATE that takes the write lock; no candidate row.
    lock = 1 if db.engine.dialect.name == "sqlite" else 0
    updates = [s for s in statements if s.startswith("UPDATE")]
    assert len(updates) == 2 * len(scan_module.RULES) + lock
    assert not any(s.startswith("UPDATE candidate") for s in updates)


def test_hr_override_sits_beside_the_derived_tier(app, site, now):
    from portal.services.tiers import override_tier

    user = gen_user()
    candidate = quiet_candidate(site, 4, now)
    scan(now)
    override_tier(candidate, "D", user, now=now)
    db.session.commit()
    scan(now + timedelta(minutes=1))
    db.session.refresh(candidate)
    assert (tier_of(candidate, now), candidate.risk_tier_override, candidate.risk_tier_override_by_id) == (
        "B",
        "D",
        user.id,
    )
    assert candidate.tier == "D"


def test_deleting_a_candidate_deletes_its_flags(app, site, now):
    # flag.candidate_id has no foreign key (models.flags): the ORM cascade keeps flags from dangling.
    gone = quiet_candidate(site, 4, now, name="Gone")
    kept = quiet_candidate(site, 4, now, name="Kept")
    scan(now)
    db.session.delete(gone)
    db.session.commit()
    assert [f.candidate_id for f in open_flags()] == [kept.id]


def test_training_notice_counts_48_hours_to_the_first_session(app, site, now):
    from portal.models import CohortSession

    def cohort_starting_in(hours, name):
        cohort = gen_cohort(starts_on=(now + hours * timedelta(hours=1)).date(), days=1, name=name)
        session = db.session.scalar(sa.select(CohortSession).where(CohortSession.cohort_id == cohort.id))
        session.starts_at = now + hours * timedelta(hours=1)
        db.session.commit()
        return cohort

    notice = [("passed", now - 9 * DAY), ("training_notice", now - DAY)]
    inside = gen_candidate(site, notice, cohort=cohort_starting_in(47, "In 47 h"), name="Inside")
    gen_candidate(site, notice, cohort=cohort_starting_in(50, "In 50 h"), name="Outside")
    scan(now)
    assert [f.candidate_id for f in open_flags("training_notice_not_seen")] == [inside.id]


def test_attendance_not_confirmed_a_week_before_escalates_two_days_before_and_clears_on_confirming(app, site, now):
    from datetime import UTC, datetime

    from portal.services.cohorts import cancel_cohort, confirm_attendance

    monday = datetime(2027, 3, 1, 2, tzinfo=UTC)  # 10:00 in Shanghai; the cohort starts Monday 8 March
    cohort = gen_cohort(monday.date() + 7 * DAY)
    quiet = gen_candidate(site, [("passed", monday - 20 * DAY)], cohort=cohort, name="没确认")
    sure = gen_candidate(site, [("passed", monday - 20 * DAY)], cohort=cohort, name="确认了")
    seen(quiet, monday)
    seen(sure, monday)
    confirm_attendance(sure.id, now=monday)
    assert scan(monday - DAY).rules["attendance_not_confirmed"].raised == 0  # eight days before: not yet
    assert scan(monday).rules["attendance_not_confirmed"].raised == 1
    [flag] = open_flags("attendance_not_confirmed")
    assert (flag.candidate_id, flag.severity) == (quiet.id, "warning")
    assert flag.evidence_at == datetime(2027, 2, 28, 16, tzinfo=UTC)  # the window opened at midnight in Shanghai
    assert scan(monday + 2 * DAY).rules["attendance_not_confirmed"].escalated == 0  # Wednesday: three working days
    assert scan(monday + 3 * DAY).rules["attendance_not_confirmed"].escalated == 1  # Thursday: two
    db.session.refresh(flag)
    assert flag.severity == "urgent"
    confirm_attendance(quiet.id, now=monday + 4 * DAY)  # rescans them: closed at once
    db.session.commit()
    db.session.refresh(flag)
    assert flag.resolved_at is not None and flag.outcome == Outcome.CLEARED

    # A cancelled cohort asks nobody to confirm.
    other = gen_candidate(site, [("passed", monday - 20 * DAY)], cohort=cohort, name="又一个")
    seen(other, monday)
    assert scan(monday + 4 * DAY + timedelta(minutes=1)).rules["attendance_not_confirmed"].raised == 1
    cancel_cohort(cohort, actor_id=None, now=monday + 4 * DAY)  # rescans its members: closed at once
    db.session.commit()
    assert open_flags("attendance_not_confirmed") == []
