"""Admins keep the one list of reasons at /admin/reasons: add, edit, order, retire, bring back; never delete."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Reason
from portal.services.leaving import mark_left
from portal.services.reasons import ReasonError, move_reason, reasons_in_order, retire_reason
from tests.builders import PASSWORD, gen_candidate, gen_reasons, gen_user, signed_in

EN = {"Accept-Language": "en"}


@pytest.fixture
def admin(app):
    gen_reasons()
    return gen_user("admin", email="admin@example.com", name="Boss")


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


def _reason(label_en: str) -> Reason:
    return db.session.scalars(sa.select(Reason).where(Reason.label_en == label_en)).one()


def _order() -> list[str]:
    """English labels in the list's order, retired ones last, marked with a †."""
    return [f"{r.label_en}{'†' if r.retired_at else ''}" for r in db.session.scalars(reasons_in_order())]


def _audit() -> list[tuple]:
    return db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.object_type, AuditEvent.object_id, AuditEvent.actor_user_id)
        .where(AuditEvent.object_type == "reason")
        .order_by(AuditEvent.id)
    ).all()


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr id="reason-(\d+)"', html)


def test_admin_adds_edits_orders_retires_and_brings_back_a_reason(app, client, admin):
    signed_in(client, admin)
    page = client.get("/admin/reasons", headers=EN)
    assert page.status_code == 200
    html = page.data.decode()
    assert _rows(html) == [str(r.id) for r in db.session.scalars(reasons_in_order())]
    assert 'href="/admin/reasons"' in html  # the navigation shows admins the page

    added = client.post("/admin/reasons", data={"label_zh": "  加班太多 ", "label_en": " Too much\n overtime "})
    assert added.status_code == 303
    reason = _reason("Too much overtime")
    assert reason.label_zh == "加班太多" and reason.retired_at is None
    assert added.headers["Location"] == f"/admin/reasons#reason-{reason.id}"
    assert _order()[-1] == "Too much overtime"  # last of the active ones

    edited = client.post(f"/admin/reasons/{reason.id}", data={"label_zh": "加班多", "label_en": "Overtime"})
    assert edited.status_code == 303
    db.session.refresh(reason)
    assert (reason.label_zh, reason.label_en) == ("加班多", "Overtime")
    assert "加班多" in client.get(f"/admin/reasons/{reason.id}", headers=EN).data.decode()

    assert client.post(f"/admin/reasons/{reason.id}/move", data={"direction": "up"}).status_code == 303
    assert _order()[-2:] == ["Overtime", "Other"]
    assert client.post(f"/admin/reasons/{reason.id}/move", data={"direction": "down"}).status_code == 303
    assert _order()[-2:] == ["Other", "Overtime"]

    pay = _reason("Pay")
    assert client.post(f"/admin/reasons/{pay.id}/retire").status_code == 303
    db.session.refresh(pay)
    assert pay.retired_at is not None and _order()[-1] == "Pay†"
    html = client.get("/admin/reasons", headers=EN).data.decode()
    assert _rows(html)[-1] == str(pay.id) and 'class="retired"' in html and "retired" in html
    assert client.post(f"/admin/reasons/{pay.id}/restore").status_code == 303
    assert _order()[-2:] == ["Overtime", "Pay"]  # back, at the end of the list

    actions = ["reason.add", "reason.edit", "reason.move", "reason.move", "reason.retire", "reason.restore"]
    ids = [reason.id] * 4 + [pay.id] * 2
    assert _audit() == [(action, "reason", id_, admin.id) for action, id_ in zip(actions, ids, strict=True)]
    edit = db.session.scalars(sa.select(AuditEvent.detail).where(AuditEvent.action == "reason.edit")).one()
    assert edit == "加班太多 | Too much overtime -> 加班多 | Overtime"  # the old words stay in the log


def test_saving_unchanged_labels_changes_and_records_nothing(app, client, admin):
    signed_in(client, admin)
    pay = _reason("Pay")
    assert client.post(f"/admin/reasons/{pay.id}", data={"label_zh": "薪资待遇", "label_en": " Pay"}).status_code == 303
    assert _audit() == []


@pytest.mark.parametrize(
    "label_zh, label_en, field, message",
    [
        ("", "Overtime", "label_zh", "Enter the reason in Chinese."),
        ("加班", "   ", "label_en", "Enter the reason in English."),
        ("加班", "x" * 81, "label_en", "At most 80 characters, please; this has 81."),
        ("加" * 81, "Overtime", "label_zh", "At most 80 characters, please; this has 81."),
        ("加班", " pAY ", "label_en", "Another reason is already called “pAY”."),
        ("家庭原因", "Overtime", "label_zh", "Another reason is already called “家庭原因”."),
    ],
)
def test_bad_labels_are_refused_with_the_reason_and_what_was_typed(
    app, client, admin, label_zh, label_en, field, message
):
    signed_in(client, admin)
    before = _order()
    refused = client.post("/admin/reasons", data={"label_zh": label_zh, "label_en": label_en}, headers=EN)
    assert refused.status_code == 422
    html = refused.data.decode()
    assert re.search(rf'id="{field}"[^>]*>[^<]*<br><span class="error" role="alert">{re.escape(message)}</span>', html)
    assert f'value="{label_zh}"' in html and f'value="{label_en}"' in html  # nothing typed is lost
    assert _order() == before and _audit() == []
    # Editing another reason into the same words is refused the same way.
    other = _reason("Other")
    refused = client.post(f"/admin/reasons/{other.id}", data={"label_zh": label_zh, "label_en": label_en}, headers=EN)
    assert refused.status_code == 422 and message in refused.data.decode()
    db.session.refresh(other)
    assert (other.label_zh, other.label_en) == ("其他", "Other") and _audit() == []


def test_both_labels_missing_are_both_named(app, client, admin):
    signed_in(client, admin)
    html = client.post("/admin/reasons", data={"label_zh": "", "label_en": ""}, headers=EN).data.decode()
    assert "Enter the reason in Chinese." in html and "Enter the reason in English." in html


def test_a_retired_label_is_taken_too_and_the_page_says_bring_it_back(app, client, admin, now):
    pay = _reason("Pay")
    pay.retired_at = now
    db.session.commit()
    signed_in(client, admin)
    refused = client.post("/admin/reasons", data={"label_zh": "工资", "label_en": "pay"}, headers=EN)
    assert refused.status_code == 422 and "A retired reason is already called “pay”: bring it back" in refused.text


def test_retired_reason_is_no_longer_offered_but_stays_with_whoever_left_with_it(app, client, site, admin, hr, now):
    pay = _reason("Pay")
    gone = gen_candidate(site, [("passed", now - timedelta(days=3))], owner=hr, name="Left Early")
    staying = gen_candidate(site, [("passed", now - timedelta(days=3))], owner=hr, name="Still Here")
    mark_left(
        gone, kind="declined", reason_id=pay.id, actor=hr, now=now, recontact_on=(now + timedelta(days=30)).date()
    )
    db.session.commit()
    signed_in(client, admin)
    assert client.post(f"/admin/reasons/{pay.id}/retire").status_code == 303

    signed_in(client, hr)
    page = client.get(f"/hr/candidates/{staying.id}", headers=EN).text
    offered = re.findall(r'<option value="(\d+)">', re.search(r'<select id="leave-reason".*?</select>', page).group())
    assert str(pay.id) not in offered and str(_reason("Family").id) in offered and len(offered) == 6
    assert "Reason: Pay." in client.get(f"/hr/candidates/{gone.id}", headers=EN).data.decode()
    assert "Pay" in client.get("/hr/talent-pool", headers=EN).data.decode()
    # A leave form sent before the reason was retired is refused, and the candidate stays.
    stale = {"leave-kind": "declined", "leave-reason": pay.id}
    assert client.post(f"/hr/candidates/{staying.id}/left", data=stale, headers=EN).status_code == 422
    db.session.refresh(staying)
    assert staying.status == "active"


def test_changes_that_make_no_sense_are_refused_on_the_list_and_change_nothing(app, client, admin, now):
    signed_in(client, admin)
    first, last = (db.session.scalars(reasons_in_order()).all()[i] for i in (0, -1))
    cases = [
        (f"/admin/reasons/{first.id}/move", {"direction": "up"}, "This reason is already first."),
        (f"/admin/reasons/{last.id}/move", {"direction": "down"}, "This reason is already last."),
        (f"/admin/reasons/{last.id}/move", {"direction": "sideways"}, "Choose up or down."),
        (f"/admin/reasons/{last.id}/restore", {}, "This reason is in use already."),
    ]
    before = _order()
    for path, data, message in cases:
        refused = client.post(path, data=data, headers=EN)
        assert refused.status_code == 422 and f'<p class="error" role="alert">{message}</p>' in refused.text, path
    assert _order() == before and _audit() == []
    assert client.post("/admin/reasons/999999/retire").status_code == 404
    assert client.get(f"/admin/reasons/{2**31}").status_code == 404  # beyond any id: unknown, not an error


def test_the_last_reason_in_use_cannot_be_retired(app, admin, now):
    *others, last = db.session.scalars(reasons_in_order()).all()
    for reason in others:
        retire_reason(reason, actor=admin, now=now)
    with app.test_request_context(headers=EN):  # the messages in English, whatever the default language
        with pytest.raises(ReasonError, match="last reason in use"):
            retire_reason(last, actor=admin, now=now)
        with pytest.raises(ReasonError, match="already retired"):
            retire_reason(others[0], actor=admin, now=now)
        with pytest.raises(ReasonError, match="Bring it back first"):
            move_reason(others[0], "up", actor=admin, now=now)
    assert _order() == [last.label_en] + [f"{reason.label_en}†" for reason in others]


def test_moves_renumber_positions_that_tie(app, admin, now):
    for reason in db.session.scalars(sa.select(Reason)):
        reason.position = 0  # as an older list might hold them: only the id tells them apart
    db.session.flush()
    family = _reason("Family")
    move_reason(family, "up", actor=admin, now=now)
    assert _order()[:5] == ["Pay", "Distance", "Family", "Took another offer", "Working hours"]
    assert [r.position for r in db.session.scalars(reasons_in_order())] == list(range(7))


def test_the_list_pages_and_a_move_lands_where_the_reason_went(app, client, admin, monkeypatch):
    monkeypatch.setattr("portal.admin.reasons.PER_PAGE", 3)
    signed_in(client, admin)
    first_page = client.get("/admin/reasons", headers=EN).text
    assert len(_rows(first_page)) == 3 and 'rel="next"' in first_page
    fourth = db.session.scalars(reasons_in_order()).all()[3]
    assert str(fourth.id) in _rows(client.get("/admin/reasons?page=2", headers=EN).text)
    moved = client.post(f"/admin/reasons/{fourth.id}/move?page=2", data={"direction": "up"})
    assert moved.headers["Location"] == f"/admin/reasons#reason-{fourth.id}"  # now on page 1
    assert str(fourth.id) in _rows(client.get("/admin/reasons", headers=EN).text)


ADMIN_ROUTES = [
    ("get", "/admin/reasons"),
    ("post", "/admin/reasons"),
    ("get", "/admin/reasons/{id}"),
    ("post", "/admin/reasons/{id}"),
    ("post", "/admin/reasons/{id}/move"),
    ("post", "/admin/reasons/{id}/retire"),
    ("post", "/admin/reasons/{id}/restore"),
]
FORM = {"label_zh": "新的", "label_en": "New one", "direction": "up"}


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_hr_who_are_not_admins_get_403_and_change_nothing(app, client, admin, hr, method, path):
    family = _reason("Family")
    before = _order()
    signed_in(client, hr)
    response = getattr(client, method)(path.format(id=family.id), data=FORM, headers=EN)
    assert response.status_code == 403 and "Only admins may do this" in response.text
    assert _order() == before and _audit() == []
    assert 'href="/admin/reasons"' not in client.get("/hr/", headers=EN).text  # no link to it either


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_anonymous_visitors_go_to_the_hr_login(app, client, admin, method, path):
    family = _reason("Family")
    before = _order()
    response = getattr(client, method)(path.format(id=family.id), data=FORM)
    assert response.status_code == 302
    expected = f"/hr/login?next={path.format(id=family.id)}" if method == "get" else "/hr/login"
    assert response.headers["Location"] == expected
    assert _order() == before and _audit() == []


def test_an_idle_admin_session_ends_here_too(app, client, admin):
    signed_in(client, admin)
    with client.session_transaction() as session:
        session["seen_at"] -= timedelta(minutes=31).total_seconds()
    response = client.get("/admin/reasons")
    assert response.status_code == 302 and response.headers["Location"].startswith("/hr/login")
    assert client.get("/admin/reasons").status_code == 302  # logged out, not merely turned away once


def test_an_admin_is_sent_back_after_logging_in(app, client, admin):
    to_login = client.get("/admin/reasons")
    back = client.post(to_login.headers["Location"], data={"email": admin.email, "password": PASSWORD})
    assert back.status_code == 303 and back.headers["Location"] == "/admin/reasons"


def test_admin_forms_need_csrf(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        gen_reasons()
        admin = gen_user("admin", email="admin@example.com")
        client = app.test_client()
        page = client.get("/hr/login").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        client.post("/hr/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token})
        assert client.post("/admin/reasons", data={"label_zh": "新的", "label_en": "New one"}).status_code == 400
        page = client.get("/admin/reasons").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        added = client.post("/admin/reasons", data={"label_zh": "新的", "label_en": "New one", "csrf_token": token})
        assert added.status_code == 303


def test_the_language_switch_on_a_refused_form_comes_back_to_the_list(app, client, admin):
    signed_in(client, admin)
    html = client.post("/admin/reasons", data={"label_zh": "", "label_en": ""}, headers=EN).text
    assert '<input type="hidden" name="next" value="/admin/reasons">' in html
