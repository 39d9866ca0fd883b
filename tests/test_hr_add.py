"""HR add a candidate (issue 11): validated, phone numbers in E.164, nobody added twice."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Candidate
from tests.builders import gen_candidate, gen_cohort, gen_user, signed_in

EN = {"Accept-Language": "en"}


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


def _form(site, **fields):
    return {
        "name": "赵六",
        "phone": "139 0000 0001",
        "email": "Zhao.Liu@Example.com",
        "position": "导购",
        "site": "浦东店",
        "source_channel": "招聘会",
        "owner": "",
        "cohort": "",
        "stage": site["passed"].id,
        "reached_at": "",
        **fields,
    }


def _count():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Candidate))


def test_hr_add_a_candidate(app, client, site, hr, now):
    signed_in(client, hr)
    assert client.get("/hr/candidates/new", headers=EN).status_code == 200
    added = client.post("/hr/candidates/new", data=_form(site, owner=hr.id), headers=EN)
    assert added.status_code == 303
    candidate = db.session.scalars(sa.select(Candidate)).one()
    assert added.headers["Location"].endswith(f"/hr/candidates/{candidate.id}")
    assert (candidate.phone, candidate.email, candidate.owner_id) == ("+8613900000001", "zhao.liu@example.com", hr.id)
    assert candidate.current_stage_id == site["passed"].id and candidate.status == "active"
    about = sa.select(AuditEvent.action).where(
        AuditEvent.object_type == "candidate", AuditEvent.object_id == candidate.id
    )
    assert db.session.scalars(about).all() == ["candidate.add"]


def test_nobody_is_added_twice(app, client, site, hr, now):
    other = gen_user("hr", email="other@example.com")
    mine = gen_candidate(site, [("passed", now)], owner=hr, phone="+8613900000001")
    gen_candidate(site, [("passed", now)], owner=other, name="别人的", email="taken@example.com")
    signed_in(client, hr)
    same_phone = client.post("/hr/candidates/new", data=_form(site, phone="+86 139-0000-0001", email=""), headers=EN)
    assert same_phone.status_code == 409
    assert f"/hr/candidates/{mine.id}" in same_phone.data.decode()
    same_email = client.post("/hr/candidates/new", data=_form(site, phone="", email="TAKEN@example.com"), headers=EN)
    alert = same_email.data.decode().split('role="alert">')[1].split("</p>")[0]
    assert (
        same_email.status_code == 409 and "colleague" in alert and "/hr/candidates/" not in alert
    )  # no link to theirs
    assert _count() == 2


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"phone": "12345"}, "not a phone number"),
        ({"phone": "", "email": ""}, "A phone number or an email"),
        ({"email": "not-an-email"}, "Invalid email"),
        ({"name": ""}, "This field is required"),
        ({"stage": "training_notice"}, "needs a training cohort"),
        ({"reached_at": "2999-01-01T09:00"}, "future"),
    ],
)
def test_bad_input_says_why_and_keeps_what_was_typed(app, client, site, hr, now, fields, message):
    if fields.get("stage") == "training_notice":
        fields = {**fields, "stage": site["training_notice"].id}
    signed_in(client, hr)
    refused = client.post("/hr/candidates/new", data=_form(site, **fields), headers=EN)
    html = refused.data.decode()
    assert refused.status_code == 422 and message in html, html[-1500:]
    assert "浦东店" in html  # what was typed is still there
    assert _count() == 0


def test_owners_hr_may_choose(app, client, site, hr, now):
    other = gen_user("hr", email="other@example.com")
    signed_in(client, hr)
    refused = client.post("/hr/candidates/new", data=_form(site, owner=other.id), headers=EN)
    assert refused.status_code == 422 and _count() == 0
    client.post("/hr/logout")
    signed_in(client, gen_user("admin", email="boss@example.com"))
    cohort = gen_cohort()
    form = _form(site, owner=other.id, cohort=cohort.id, stage=site["training_notice"].id)
    form["reached_at"] = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert client.post("/hr/candidates/new", data=form).status_code == 303
    candidate = db.session.scalars(sa.select(Candidate)).one()
    assert (candidate.owner_id, candidate.cohort_id) == (other.id, cohort.id)
