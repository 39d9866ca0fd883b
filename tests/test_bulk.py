"""Bulk actions from the candidates list: each candidate through its service, audited, each refusal explained."""

import html as markup
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Candidate, StageEvent
from portal.services.bulk import MAX_BULK, BulkAction, BulkOutcome, apply_bulk
from portal.services.candidates import MAX_TAGS
from portal.services.cohorts import CohortError, Placement, place_in_cohort
from tests.builders import PASSWORD, gen_candidate, gen_cohort, gen_user, signed_in

EN = {"Accept-Language": "en"}


def results(response) -> list[tuple[str, str]]:
    """(outcome, the row's text) of each row of a results page."""
    rows = re.findall(r'<tr class="(\w+)">(.*?)</tr>', response.get_data(as_text=True), re.S)
    return [(outcome, markup.unescape(" ".join(re.sub(r"<[^>]+>", " ", text).split()))) for outcome, text in rows]


def bulk(client, action: str, ids, **fields):
    data = {"bulk-action": action, "bulk-ids": [str(id_) for id_ in ids], "bulk-next": "/hr/?site=x"}
    data.update({f"bulk-{name}": value for name, value in fields.items()})
    return client.post("/hr/candidates/bulk", data=data, headers=EN)


def audit_count(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == action))


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


def test_add_a_tag_to_the_ticked_candidates(app, client, site, hr, now):
    one = gen_candidate(site, [("passed", now)], name="One", owner=hr)
    two = gen_candidate(site, [("passed", now)], name="Two", owner=hr, tags=["夜班"])
    untouched = gen_candidate(site, [("passed", now)], name="Three", owner=hr)
    signed_in(client, hr)
    answer = bulk(client, "tag", [one.id, two.id], tag=" 夜班 ")
    assert answer.status_code == 200
    assert results(answer) == [("done", "One Done"), ("unchanged", "Two Already so: unchanged")]
    assert "1 done, 1 unchanged, 0 refused, 0 not found" in answer.get_data(as_text=True)
    assert 'href="/hr/?site=x"' in answer.get_data(as_text=True)  # back to the list as it was filtered
    db.session.expire_all()
    assert (one.tags, two.tags, untouched.tags) == (["夜班"], ["夜班"], [])
    assert audit_count("candidate.edit") == 1  # per candidate changed, by the profile service
    summary = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "candidates.bulk")).one()
    assert summary.actor_user_id == hr.id
    assert summary.detail == "tag 夜班: 1 done, 1 unchanged, 0 refused, 0 not found"


def test_a_refused_row_is_explained_and_the_others_still_apply(app, client, site, hr, now):
    full = gen_candidate(site, [("passed", now)], name="Full", owner=hr, tags=[f"t{n}" for n in range(MAX_TAGS)])
    fine = gen_candidate(site, [("passed", now)], name="Fine", owner=hr)
    signed_in(client, hr)
    answer = bulk(client, "tag", [full.id, fine.id], tag="new")
    assert results(answer) == [("refused", "Full Not changed: At most 10 tags."), ("done", "Fine Done")]
    db.session.expire_all()
    assert len(full.tags) == MAX_TAGS and fine.tags == ["new"]


def test_move_a_stage_each_through_the_pipeline_rules(app, client, site, hr, now):
    ready = gen_candidate(site, [("passed", now - timedelta(days=2))], name="Ready", owner=hr)
    there = gen_candidate(site, [("passed", now), ("background_check", now)], name="There", owner=hr)
    gone = gen_candidate(site, [("passed", now)], name="Gone", owner=hr, status="left")
    signed_in(client, hr)
    answer = bulk(client, "stage", [ready.id, there.id, gone.id], stage=site["background_check"].id)
    assert results(answer) == [
        ("done", "Ready Done"),
        ("unchanged", "There Already so: unchanged"),
        ("refused", "Gone Not changed: This candidate has started or left: re-activate them first."),
    ]
    events = db.session.scalars(sa.select(StageEvent.candidate_id).where(StageEvent.actor_id == hr.id)).all()
    assert events == [ready.id]
    assert audit_count("stage.move") == 1
    skipping = bulk(client, "stage", [ready.id], stage=site["onboarding_prep"].id)
    assert results(skipping) == [("refused", "Ready Not changed: Training notice comes first: it is a required step.")]
    needs_cohort = bulk(client, "stage", [ready.id], stage=site["training_notice"].id)
    assert results(needs_cohort) == [
        ("refused", "Ready Not changed: Training notice needs a training cohort: choose one.")
    ]


def test_assign_a_cohort_then_move_to_the_stage_that_needs_it(app, client, site, hr, now):
    cohort = gen_cohort(name="March")
    people = [
        gen_candidate(site, [("passed", now), ("background_check", now)], name=f"P{n}", owner=hr) for n in range(2)
    ]
    started = gen_candidate(site, [("passed", now)], name="Started", owner=hr, status="started")
    signed_in(client, hr)
    answer = bulk(client, "cohort", [p.id for p in people] + [started.id], cohort=cohort.id)
    assert [outcome for outcome, _ in results(answer)] == ["done", "done", "refused"]
    assert "March" in answer.get_data(as_text=True)
    assert audit_count("cohort.assign") == 2
    moved = bulk(client, "stage", [p.id for p in people], stage=site["training_notice"].id)
    assert [outcome for outcome, _ in results(moved)] == ["done", "done"]
    db.session.expire_all()
    assert {p.current_stage_id for p in people} == {site["training_notice"].id}
    assert {p.cohort_id for p in people} == {cohort.id} and started.cohort_id is None


def test_the_cohort_service_refuses_what_the_stage_needs(app, site, hr, now):
    cohort = gen_cohort()
    candidate = gen_candidate(
        site, [("passed", now), ("background_check", now), ("training_notice", now)], owner=hr, cohort=cohort
    )
    with app.test_request_context(headers=EN):
        with pytest.raises(CohortError, match="needs a training cohort"):
            place_in_cohort(candidate, None, actor_id=hr.id, now=now)
        with pytest.raises(CohortError, match="does not exist"):
            place_in_cohort(candidate, 999_999, actor_id=hr.id, now=now)
    assert (
        place_in_cohort(candidate, cohort.id, actor_id=hr.id, now=now) == Placement.UNCHANGED
    )  # already in it: nothing to do
    assert audit_count("cohort.assign") == 0


def test_hr_take_or_unassign_and_admins_give_to_anyone(app, client, site, hr, now):
    colleague = gen_user("hr", email="colleague@example.com", name="Colleague")
    admin = gen_user("admin", email="boss@example.com")
    free = gen_candidate(site, [("passed", now)], name="Free")
    mine = gen_candidate(site, [("passed", now)], name="Mine", owner=hr)
    signed_in(client, hr)
    assert results(bulk(client, "owner", [free.id], owner=hr.id)) == [("done", "Free Done")]
    refused = bulk(client, "owner", [mine.id], owner=colleague.id)  # not a choice HR are given
    assert refused.status_code == 422 and "Nothing was changed" in refused.get_data(as_text=True)
    assert results(bulk(client, "owner", [mine.id], owner="none")) == [("done", "Mine Done")]
    db.session.expire_all()
    assert (free.owner_id, mine.owner_id) == (hr.id, None)
    boss = signed_in(app.test_client(), admin)
    assert results(bulk(boss, "owner", [free.id, mine.id], owner=colleague.id)) == [
        ("done", "Free Done"),
        ("done", "Mine Done"),
    ]
    db.session.expire_all()
    assert free.owner_id == mine.owner_id == colleague.id


def test_ids_the_user_may_not_see_are_not_found_and_untouched(app, client, site, hr, now):
    other = gen_user("hr", email="other@example.com")
    theirs = gen_candidate(site, [("passed", now)], name="Secret Name", owner=other)
    mine = gen_candidate(site, [("passed", now)], name="Mine", owner=hr)
    signed_in(client, hr)
    answer = bulk(client, "tag", [theirs.id, 999_999, 2**40, mine.id, mine.id], tag="x")
    assert answer.status_code == 200
    assert [outcome for outcome, _ in results(answer)] == ["not_found", "not_found", "not_found", "done"]
    assert "Secret Name" not in answer.get_data(as_text=True)
    db.session.expire_all()
    assert theirs.tags == [] and mine.tags == ["x"]


def test_every_candidate_on_the_page(app, client, site, hr, now):
    people = [gen_candidate(site, [("passed", now)], name=f"P{n}", owner=hr) for n in range(3)]
    signed_in(client, hr)
    data = {
        "bulk-action": "tag",
        "bulk-tag": "all",
        "bulk-whole_page": "y",
        "bulk-page_ids": [str(p.id) for p in people[:2]],
        "bulk-ids": [str(people[2].id)],  # ignored: the whole page was chosen
    }
    answer = client.post("/hr/candidates/bulk", data=data, headers=EN)
    assert [outcome for outcome, _ in results(answer)] == ["done", "done"]
    db.session.expire_all()
    assert [p.tags for p in people] == [["all"], ["all"], []]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"bulk-action": "tag", "bulk-tag": "x"}, "Tick the candidates to act on"),
        ({"bulk-action": "tag", "bulk-tag": "", "bulk-ids": ["1"]}, "Type the tag to add."),
        ({"bulk-action": "tag", "bulk-tag": "x" * 31, "bulk-ids": ["1"]}, "30 characters"),
        ({"bulk-action": "stage", "bulk-stage": "", "bulk-ids": ["1"]}, "Choose one."),
        ({"bulk-action": "delete", "bulk-ids": ["1"]}, "Not a valid choice"),
        ({"bulk-action": "tag", "bulk-tag": "x", "bulk-ids": ["one"]}, "could not be coerced"),
        ({"bulk-action": "tag", "bulk-tag": "x", "bulk-ids": [str(n) for n in range(MAX_BULK + 1)]}, "At most 100"),
    ],
)
def test_a_bad_form_changes_nothing_and_says_why(app, client, site, hr, now, data, message):
    candidate = gen_candidate(site, [("passed", now)], owner=hr)
    data = {
        key: [str(candidate.id) if v == "1" else v for v in value] if isinstance(value, list) else value
        for key, value in data.items()
    }
    signed_in(client, hr)
    answer = client.post("/hr/candidates/bulk", data=data, headers=EN)
    assert answer.status_code == 422
    assert message in answer.get_data(as_text=True)
    assert audit_count("candidates.bulk") == 0 and audit_count("candidate.edit") == 0


def test_bulk_needs_a_login_and_a_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        hr = gen_user("hr", email="hr@example.com")
        candidate = gen_candidate(None, name="Li", owner=hr)
        candidate_id = candidate.id
    anonymous = app.test_client()
    assert anonymous.post("/hr/candidates/bulk", data={"bulk-action": "tag"}).status_code == 400  # CSRF first
    client = app.test_client()
    login = client.get("/hr/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    client.post("/hr/login", data={"email": "hr@example.com", "password": PASSWORD, "csrf_token": token})
    data = {"bulk-action": "tag", "bulk-tag": "x", "bulk-ids": [str(candidate_id)]}
    assert client.post("/hr/candidates/bulk", data=data).status_code == 400
    page = client.get("/hr/").get_data(as_text=True)
    data["bulk-csrf_token"] = re.search(r'name="bulk-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/hr/candidates/bulk", data=data).status_code == 200
    with app.app_context():
        assert db.session.get(Candidate, candidate_id).tags == ["x"]


def test_each_candidate_in_its_own_savepoint(app, site, hr, now):
    """The service itself: a refusal in the middle rolls back that candidate alone."""
    first, refused, last = (
        gen_candidate(site, [("passed", now)], name=name, owner=hr, status=status)
        for name, status in (("First", "active"), ("Refused", "left"), ("Last", "active"))
    )
    visible = [first, refused, last]
    result = apply_bulk(
        BulkAction.STAGE, [c.id for c in visible], visible, actor=hr, now=now, stage=site["background_check"]
    )
    db.session.commit()
    assert [row.outcome for row in result.rows] == [BulkOutcome.DONE, BulkOutcome.REFUSED, BulkOutcome.DONE]
    db.session.expire_all()
    assert [c.current_stage_id for c in visible] == [
        site["background_check"].id,
        site["passed"].id,
        site["background_check"].id,
    ]
    assert audit_count("stage.move") == 2


def test_a_bulk_action_that_breaks_half_way_leaves_nothing_done(app, site, hr, now, monkeypatch):
    """One transaction, savepoints inside it: on SQLite the first savepoint used to be the transaction, so
    releasing it committed the first candidate's change before the second one broke."""
    from portal.services import bulk

    people = [gen_candidate(site, [("passed", now)], name=f"P{n}", owner=hr) for n in range(2)]
    step = bulk._step

    def breaks_on_the_second(action, **kwargs):
        apply = step(action, **kwargs)

        def each(candidate):
            if candidate.id == people[1].id:
                raise RuntimeError("the database went away")
            return apply(candidate)

        return each

    monkeypatch.setattr(bulk, "_step", breaks_on_the_second)
    db.session.execute(sa.select(Candidate.id)).all()  # the request has read, not written, before the action
    with pytest.raises(RuntimeError):
        apply_bulk(BulkAction.TAG, [p.id for p in people], people, actor=hr, now=now, tag="夜班")
    db.session.rollback()
    assert [db.session.get(Candidate, p.id).tags for p in people] == [[], []]


def test_send_each_their_link_through_the_outbox_once_per_form(app, client, site, hr, now):
    from portal.models import Outbox

    emailed = gen_candidate(site, [("passed", now)], name="Mail", owner=hr, email="m@example.com")
    texted = gen_candidate(site, [("passed", now)], name="Text", owner=hr, phone="+8613800000001")
    nowhere = gen_candidate(site, [("passed", now)], name="Nowhere", owner=hr)
    gone = gen_candidate(site, [("passed", now)], name="Gone", owner=hr, email="g@example.com", status="left")
    signed_in(client, hr)
    page = client.get("/hr/", headers=EN).get_data(as_text=True)
    request_key = re.search(r'name="bulk-request" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    ids = [emailed.id, texted.id, nowhere.id, gone.id]
    answer = bulk(client, "link", ids, request=request_key)
    assert results(answer) == [
        ("done", "Mail Done"),
        ("done", "Text Done"),
        (
            "refused",
            "Nowhere Not changed: There is no email address or mobile number to send it to. Add one to the profile.",
        ),
        ("refused", "Gone Not changed: They left: nothing is sent to someone who left."),
    ]
    again = bulk(client, "link", ids, request=request_key)  # the same form, sent again
    assert [outcome for outcome, _ in results(again)][:2] == ["unchanged", "unchanged"]
    rows = db.session.scalars(sa.select(Outbox).order_by(Outbox.candidate_id)).all()
    assert [(row.candidate_id, row.kind, row.channels, row.created_by_id) for row in rows] == [
        (emailed.id, "link", "email,sms", hr.id),
        (texted.id, "link", "email,sms", hr.id),
    ]
    assert audit_count("message.queue") == 2
    expired = bulk(client, "link", ids, request="stale")
    assert expired.status_code == 422 and "The form expired" in expired.get_data(as_text=True)


def test_send_each_the_same_message_by_email_and_a_bad_form_sends_nothing(app, client, site, hr, now):
    from portal.models import Outbox

    one = gen_candidate(site, [("passed", now)], name="One", owner=hr, email="one@example.com")
    two = gen_candidate(site, [("passed", now)], name="Two", owner=hr, email="two@example.com")
    phone_only = gen_candidate(site, [("passed", now)], name="Phone", owner=hr, phone="+8613800000001")
    signed_in(client, hr)
    page = client.get("/hr/", headers=EN).get_data(as_text=True)
    request_key = re.search(r'name="bulk-request" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    ids = [one.id, two.id, phone_only.id]
    empty = bulk(client, "note", ids, request=request_key, text="  ")
    assert empty.status_code == 422 and "Write the message first." in empty.get_data(as_text=True)
    words = "培训改到周一上午九点。"
    answer = bulk(client, "note", ids, request=request_key, text=words, with_link="y")
    assert [outcome for outcome, _ in results(answer)] == ["done", "done", "refused"]
    assert "no email address" in results(answer)[2][1]
    bulk(client, "note", ids, request=request_key, text=words, with_link="y")  # sent again: nothing more
    rows = db.session.scalars(sa.select(Outbox).order_by(Outbox.candidate_id)).all()
    assert [(row.candidate_id, row.kind) for row in rows] == [(one.id, "note"), (two.id, "note")]
    assert all(row.body.startswith(words) and "{portal_link}" in row.body for row in rows)
