"""HR login, sessions, the candidates list, link issue, audit, and the CLI."""

import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Flag, PortalLink, User, utcnow
from tests.builders import PASSWORD, gen_candidate, gen_user, log_in


def test_login_and_logout(app, client):
    user = gen_user("hr", email="hr@example.com")
    response = log_in(client, "HR@example.com")
    assert response.status_code == 303 and response.headers["Location"] == "/hr/queue"
    assert client.get("/hr/").status_code == 200
    assert client.post("/hr/logout").status_code == 303
    assert client.get("/hr/").status_code == 302
    actions = db.session.execute(sa.select(AuditEvent.action, AuditEvent.outcome, AuditEvent.actor_user_id)).all()
    assert [tuple(a) for a in actions] == [("hr.login", "ok", user.id), ("hr.logout", "ok", user.id)]


def test_unknown_user_and_wrong_password_get_the_same_answer(app, client):
    gen_user("hr", email="hr@example.com")
    wrong = log_in(client, "hr@example.com", "nope")
    unknown = log_in(client, "ghost@example.com", "nope")
    assert wrong.status_code == unknown.status_code == 200

    def strip(body):  # CSRF tokens differ per second
        return re.sub(rb'(value="|X-CSRFToken": ")[^"]*"', b"", body)

    assert strip(wrong.data) == strip(unknown.data)
    assert b"Email or password is not correct." in wrong.data or "不正确".encode() in wrong.data
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.outcome == "failed")) == 2


def test_session_cookie_replayed_after_logout_is_refused(app):
    gen_user("hr", email="hr@example.com")
    client = app.test_client()
    log_in(client, "hr@example.com")
    stolen = client.get_cookie("kw_session").value
    client.post("/hr/logout")
    thief = app.test_client()
    thief.set_cookie("kw_session", stolen)
    assert thief.get("/hr/").status_code == 302


def test_disabled_user_is_logged_out_at_once(app):
    user = gen_user("hr", email="hr@example.com")
    client = app.test_client()
    log_in(client, "hr@example.com")
    user.active = False
    db.session.commit()
    assert client.get("/hr/").status_code == 302
    assert log_in(app.test_client(), "hr@example.com").status_code == 200  # login refused too


def test_session_id_changes_on_login(app):
    gen_user("hr", email="hr@example.com")
    client = app.test_client()
    client.get("/hr/login")
    with client.session_transaction() as session:
        session["planted"] = "by attacker"
    log_in(client, "hr@example.com")
    with client.session_transaction() as session:
        assert "planted" not in session


@pytest.mark.parametrize("field, age", [("seen_at", timedelta(minutes=31)), ("login_at", timedelta(hours=11))])
def test_idle_and_absolute_timeouts(app, field, age):
    gen_user("hr", email="hr@example.com")
    client = app.test_client()
    log_in(client, "hr@example.com")
    with client.session_transaction() as session:
        session[field] = session[field] - age.total_seconds()
    response = client.get("/hr/", headers={"Accept-Language": "en"})
    assert response.status_code == 302 and "/hr/login" in response.headers["Location"]
    assert b"session has expired" in client.get(response.headers["Location"], headers={"Accept-Language": "en"}).data


def test_session_cookie_attributes(make_app):
    app = make_app(PUBLIC_BASE_URL="https://jobs.example.com", SECURE_COOKIES=True)
    with app.app_context():
        gen_user("hr", email="hr@example.com")
    client = app.test_client()
    response = client.post(
        "/hr/login", data={"email": "hr@example.com", "password": PASSWORD}, base_url="https://jobs.example.com"
    )
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    assert set(cookies) == {"__Host-kw_session", "__Host-kw_device"}
    for cookie in cookies.values():
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Strict-Transport-Security" in response.headers


def test_failed_logins_are_limited_per_account_and_address(make_app):
    app = make_app(HR_LOGIN_LIMIT="3 per 10 minutes")
    with app.app_context():
        gen_user("hr", email="hr@example.com")
    client = app.test_client()
    statuses = [log_in(client, "hr@example.com", "wrong").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # Another account from the same address, and the same account from another address, may still try.
    assert log_in(client, "other@example.com", "wrong").status_code == 200
    assert log_in(app.test_client(), "hr@example.com", environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 303


def test_failed_logins_are_limited_per_address(make_app):
    app = make_app(HR_LOGIN_ADDRESS_LIMIT="3 per 10 minutes")
    client = app.test_client()
    statuses = [log_in(client, f"guess{i}@example.com", "wrong").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_guessing_from_many_addresses_slows_the_attacker_but_never_locks_the_owner_out(make_app):
    """Ten wrong passwords from ten addresses once locked the owner out for ten minutes."""
    app = make_app(HR_LOGIN_FREE_FAILURES=3, HR_LOGIN_MAX_DELAY_SECONDS=2)
    with app.app_context():
        gen_user("hr", email="hr@example.com")
    attacker = app.test_client()
    answers = [
        log_in(
            attacker,
            "hr@example.com",
            "wrong",
            environ_base={"REMOTE_ADDR": f"198.51.100.{i}"},
            headers={"Accept-Language": "en"},
        )
        for i in range(10)
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses  # past three failures, each one must wait
    assert all(b"Please try again in" in a.data for a in answers if a.status_code == 429)
    owner = app.test_client()
    owner_address = {"environ_base": {"REMOTE_ADDR": "203.0.113.5"}, "headers": {"Accept-Language": "en"}}
    deadline = time.monotonic() + 10
    while (answer := log_in(owner, "hr@example.com", **owner_address)).status_code == 429:
        assert b"Please try again in" in answer.data and time.monotonic() < deadline
        time.sleep(0.2)
    assert answer.status_code == 303  # in within the longest delay (2 s here), never ten minutes


def test_a_browser_that_signed_in_before_skips_the_delay_a_guesser_causes(make_app):
    app = make_app(HR_LOGIN_FREE_FAILURES=2, HR_LOGIN_MAX_DELAY_SECONDS=60)
    with app.app_context():
        gen_user("hr", email="hr@example.com")
    desk = app.test_client()
    assert log_in(desk, "hr@example.com").status_code == 303
    desk.post("/hr/logout")
    attacker = app.test_client()
    for i in range(4):
        log_in(attacker, "hr@example.com", "wrong", environ_base={"REMOTE_ADDR": f"198.51.100.{i}"})
    stranger = log_in(app.test_client(), "hr@example.com", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert stranger.status_code == 429  # a new browser waits, even with the right password
    forged = app.test_client()  # the device cookie cannot be made up
    forged.set_cookie("kw_device", "made-up")
    assert log_in(forged, "hr@example.com", environ_base={"REMOTE_ADDR": "203.0.113.10"}).status_code == 429
    assert log_in(desk, "hr@example.com").status_code == 303  # the owner's own browser does not wait
    # A new password forgets every known device.
    with app.app_context():
        owner = db.session.scalars(sa.select(User).where(User.email == "hr@example.com")).one()
        owner.set_password("a brand new password")
        db.session.commit()
    for i in range(4):
        log_in(attacker, "hr@example.com", "wrong", environ_base={"REMOTE_ADDR": f"198.51.100.{i}"})
    assert log_in(desk, "hr@example.com", "a brand new password").status_code == 429


def test_login_keeps_what_was_typed_when_the_form_expired(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post(
        "/hr/login", data={"email": "hr@example.com", "password": "x"}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 400
    html = response.data.decode()
    assert "The page had expired" in html and 'value="hr@example.com"' in html
    assert re.search(r'name="csrf_token" type="hidden" value="[^"]+"', html)  # a fresh token to submit with


def test_next_parameter_cannot_redirect_off_site(app, client):
    gen_user("hr", email="hr@example.com")
    response = client.post(
        "/hr/login?next=https://evil.example/", data={"email": "hr@example.com", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/hr/queue"


def test_candidates_list_is_paginated_and_scoped(app, client, site):
    me = gen_user("hr", email="me@example.com")
    other = gen_user("hr", email="other@example.com")
    for index in range(30):
        gen_candidate(site, [("passed", utcnow())], name=f"Mine {index:02}", owner=me)
    gen_candidate(site, [("passed", utcnow())], name="Theirs", owner=other)
    gen_candidate(site, [("passed", utcnow())], name="Nobody's")
    log_in(client, "me@example.com")
    first = client.get("/hr/").data.decode()
    second = client.get("/hr/?page=2").data.decode()
    names = re.findall(r'">(Mine \d\d|Theirs|Nobody&#39;s)</a>', first + second)
    assert len(names) == 31 and "Theirs" not in names
    assert len(re.findall(r'">(?:Mine \d\d|Nobody&#39;s)</a>', first)) == 25


def test_admin_sees_every_candidate(app, client, site):
    gen_user("admin", email="boss@example.com")
    hr = gen_user("hr", email="hr@example.com")
    gen_candidate(site, [("passed", utcnow())], name="Theirs", owner=hr)
    log_in(client, "boss@example.com")
    assert "Theirs" in client.get("/hr/").data.decode()


def test_list_statement_count_does_not_grow_with_rows(app, client, site):
    from tests.sqlcount import count_statements

    gen_user("admin", email="boss@example.com")
    log_in(client, "boss@example.com")
    gen_candidate(site, [("passed", utcnow())])
    with count_statements() as few:
        client.get("/hr/")
    for index in range(24):
        gen_candidate(site, [("passed", utcnow())], name=f"C{index}")
    with count_statements() as many:
        client.get("/hr/")
    assert len(few) == len(many)


def test_issue_link_shows_it_once_with_qr_and_revokes_the_old_ones(app, client, site):
    user = gen_user("hr", email="hr@example.com")
    candidate = gen_candidate(site, [("passed", utcnow())], owner=user)
    log_in(client, "hr@example.com")
    first = client.post(f"/hr/candidates/{candidate.id}/link").data.decode()
    second = client.post(f"/hr/candidates/{candidate.id}/link").data.decode()
    url_1 = re.search(r"http://localhost/c/[A-Za-z0-9_-]{43}", first).group(0)
    url_2 = re.search(r"http://localhost/c/[A-Za-z0-9_-]{43}", second).group(0)
    assert "<svg" in second and url_1 != url_2
    anon = app.test_client()
    assert anon.get(url_1.replace("http://localhost", "")).status_code == 404
    assert anon.get(url_2.replace("http://localhost", "")).status_code == 303
    issued = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "link.issue")).all()
    assert len(issued) == 2 and all(a.object_id == candidate.id for a in issued)
    assert all(url_1[-43:] not in (a.detail or "") for a in issued)


def test_hr_cannot_issue_links_for_someone_elses_candidate(app, client, site):
    gen_user("hr", email="hr@example.com")
    other = gen_user("hr", email="other@example.com")
    candidate = gen_candidate(site, [("passed", utcnow())], owner=other)
    log_in(client, "hr@example.com")
    assert client.post(f"/hr/candidates/{candidate.id}/link").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PortalLink)) == 0


def test_hr_pages_need_login(app, client, site):
    candidate = gen_candidate(site, [("passed", utcnow())])
    assert client.get("/hr/").status_code == 302
    assert client.post(f"/hr/candidates/{candidate.id}/link").status_code == 302


def test_hr_forms_need_csrf(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        gen_user("hr", email="hr@example.com")
    client = app.test_client()
    page = client.get("/hr/login").data.decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    ok = client.post("/hr/login", data={"email": "hr@example.com", "password": PASSWORD, "csrf_token": token})
    assert ok.status_code == 303
    assert client.post("/hr/logout").status_code == 400


def test_cli_create_user_and_candidate_link(app, site):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-user", "New@Example.com", "--name", "新人", "--role", "admin", "--password", "a-long-password"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalars(sa.select(User)).one()
    assert user.email == "new@example.com" and user.role == "admin" and user.check_password("a-long-password")
    again = runner.invoke(args=["create-user", "new@example.com", "--name", "x", "--password", "p"])
    assert again.exit_code != 0 and "already exists" in again.output

    candidate = gen_candidate(site, [("passed", utcnow())], email="wang@example.com")
    first = runner.invoke(args=["candidate-link", "wang@example.com"]).output.strip()
    second = runner.invoke(args=["candidate-link", str(candidate.id)]).output.strip()
    assert re.fullmatch(r"http://localhost/c/[A-Za-z0-9_-]{43}", second)
    client = app.test_client()
    assert client.get(first.replace("http://localhost", "")).status_code == 404
    assert client.get(second.replace("http://localhost", "")).status_code == 303
    assert runner.invoke(args=["candidate-link", "nobody@example.com"]).exit_code != 0


def test_audit_detail_encodes_line_breaks(app):
    from portal.services.audit import record_audit

    record_audit("test", detail="name\r\nFAKE line")
    db.session.commit()
    assert db.session.scalars(sa.select(AuditEvent.detail)).one() == "name\\r\\nFAKE line"


def test_language_switch_on_a_post_result_page_returns_to_the_list(app, client, site):
    user = gen_user("hr", email="hr@example.com")
    candidate = gen_candidate(site, [("passed", utcnow())], owner=user)
    log_in(client, "hr@example.com")
    html = client.post(f"/hr/candidates/{candidate.id}/link").data.decode()
    assert 'name="next" value="/hr/"' in html
    assert client.get(f"/hr/candidates/{candidate.id}/link").status_code == 405


def test_tier_override_is_kept_and_shown_beside_the_derived_tier(app, client, site):
    user = gen_user("hr", email="hr@example.com", name="Zhou")
    candidate = gen_candidate(site, [("passed", utcnow())], owner=user, name="Tiered")
    db.session.add(
        Flag(candidate_id=candidate.id, rule="gone_quiet", severity="warning", reason="x", raised_at=utcnow())
    )
    db.session.commit()
    log_in(client, "hr@example.com")
    response = client.post(f"/hr/candidates/{candidate.id}/tier", data={"tier": "D", "next": "/hr/?q=Tiered"})
    assert response.status_code == 303 and response.headers["Location"] == "/hr/?q=Tiered"
    html = client.get("/hr/?q=Tiered", headers={"Accept-Language": "en"}).data.decode()
    assert 'class="tier tier-D"' in html and "derived B; set by Zhou" in html and "Gone quiet" in html
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "tier.override")) == 1
    assert client.post(f"/hr/candidates/{candidate.id}/tier", data={"tier": "Z"}).status_code == 400
    client.post(f"/hr/candidates/{candidate.id}/tier", data={"tier": ""})
    html = client.get("/hr/?q=Tiered", headers={"Accept-Language": "en"}).data.decode()
    assert 'class="tier tier-B"' in html and "derived B" not in html
    db.session.refresh(candidate)
    assert candidate.risk_tier_override is None


def test_htmx_actions_after_the_session_ended_load_the_login_page_whole(app, client, site):
    """Following a plain redirect, htmx once put the login form inside the queue list."""
    from tests.builders import gen_flag

    user = gen_user("hr", email="hr@example.com")
    flag = gen_flag(gen_candidate(site, [("passed", utcnow())], owner=user))
    answer = client.post(f"/hr/flags/{flag.id}/claim", headers={"HX-Request": "true"})
    assert answer.status_code == 204 and answer.headers["HX-Redirect"].startswith("/hr/login")
    log_in(client, "hr@example.com")
    with client.session_transaction() as session:
        session["seen_at"] = 0  # idle for ever
    expired = client.get("/hr/queue", headers={"HX-Request": "true"})
    assert expired.status_code == 204 and expired.headers["HX-Redirect"] == "/hr/login?next=/hr/queue"
    assert client.get("/hr/queue").status_code == 302  # without htmx: an ordinary redirect


def test_a_refreshed_new_link_page_does_not_revoke_the_link_it_showed(app, client, site):
    user = gen_user("hr", email="hr@example.com")
    candidate = gen_candidate(site, [("passed", utcnow())], owner=user)
    log_in(client, "hr@example.com")
    page = client.get(f"/hr/candidates/{candidate.id}", headers={"Accept-Language": "en"}).data.decode()
    seen = re.search(r'name="issued_before" value="([^"]*)"', page).group(1)
    first = client.post(f"/hr/candidates/{candidate.id}/link", data={"issued_before": seen})
    url = re.search(r"http://localhost/c/[A-Za-z0-9_-]{43}", first.data.decode()).group(0)
    again = client.post(
        f"/hr/candidates/{candidate.id}/link", data={"issued_before": seen}, headers={"Accept-Language": "en"}
    )
    assert again.status_code == 409 and "nothing was changed" in again.data.decode()
    assert app.test_client().get(url.replace("http://localhost", "")).status_code == 303  # still works
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PortalLink)) == 1
