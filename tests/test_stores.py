"""Stores hires join after training: admins keep them, HR give each hire one with a place, the hire's page says
which; and the candidate's cohort as HR see it (confirmed or not, cancelled, their place on a waitlist)."""

import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from portal.extensions import db
from portal.models import AuditEvent, Candidate, Store
from portal.services.cohorts import Placement, cancel_cohort, confirm_attendance, place_in_cohort
from portal.services.leaving import mark_left
from portal.services.stores import StoreError, assign_store
from tests.builders import gen_candidate, gen_cohort, gen_reasons, gen_user, open_page, signed_in

EN = {"Accept-Language": "en"}


@pytest.fixture
def admin(app):
    with force_locale("en"):  # refusals read in English here
        yield gen_user("admin", email="boss@example.com", name="Boss")


@pytest.fixture
def hr(app):
    return gen_user("hr", email="hr@example.com", name="Zhou")


def gen_store(name: str, district: str = "", open_places: int = 5, **fields) -> Store:
    store = Store(name=name, district=district, open_places=open_places, **fields)
    db.session.add(store)
    db.session.commit()
    return store


def person(site, now, name: str, passed_days_ago: float = 5, **fields) -> Candidate:
    return gen_candidate(
        site, [("passed", now - timedelta(days=passed_days_ago))], name=name, email=f"{name}@example.com", **fields
    )


def history(candidate_id: int, action: str) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent.detail)
            .where(AuditEvent.object_type == "candidate", AuditEvent.object_id == candidate_id)
            .where(AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    )


def input_tag(html: str, name: str) -> str:
    """The <input> with this name (the one of the store form: the filter's is named q)."""
    [tag] = re.findall(rf'<input [^>]*name="{name}"[^>]*>', html)
    return tag


def options(html: str, select_id: str) -> list[str]:
    """The values of a select's options, in the order shown."""
    select = html.split(f'id="{select_id}"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option [^>]*value="([^"]*)"', select)


def test_an_admin_adds_and_edits_stores_and_a_refusal_keeps_what_was_typed_and_names_the_field(app, admin, site, now):
    client = signed_in(app.test_client(), admin)
    assert "No stores yet." in client.get("/admin/stores", headers=EN).get_data(as_text=True)
    typed = {"name": "  静安店  ", "district": " 静安区 ", "address": "南京西路 1 号", "open_places": "3"}
    for bad, field in (
        ({"name": "   "}, "name"),
        ({"district": "区" * 61}, "district"),
        ({"address": "路" * 301}, "address"),
        ({"open_places": "three"}, "open_places"),
        ({"open_places": "-1"}, "open_places"),
        ({"open_places": "10001"}, "open_places"),
    ):
        refused = client.post("/admin/stores", data={**typed, **bad}, headers=EN)
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422, bad
        assert "Nothing was saved:" in html and f'href="#store-{field}"' in html, bad
        assert 'aria-invalid="true"' in input_tag(html, field), bad
        others = [name for name in typed if name != field]
        assert all('aria-invalid="true"' not in input_tag(html, name) for name in others), bad
        for name in others:  # what was typed stays, as typed
            assert f'value="{typed[name]}"' in input_tag(html, name), (bad, name)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Store)) == 0

    added = client.post("/admin/stores", data=typed)
    assert added.status_code == 303
    store = db.session.scalars(sa.select(Store)).one()
    assert added.headers["Location"].endswith(f"/admin/stores#store-{store.id}")
    assert (store.name, store.district, store.address, store.open_places) == ("静安店", "静安区", "南京西路 1 号", 3)

    # Two hires are going there: the places cannot be fewer; an edit in place keeps the rest.
    for name in ("甲", "乙"):
        assign_store(person(site, now, name), store.id, actor_id=admin.id, now=now)
    db.session.commit()
    editing = client.get(f"/admin/stores?edit={store.id}", headers=EN).get_data(as_text=True)
    assert f'action="/admin/stores/{store.id}"' in editing and 'value="静安店"' in editing
    assert "2 of 3" in editing
    fewer = client.post(f"/admin/stores/{store.id}", data={**typed, "name": "静安寺店", "open_places": "1"}, headers=EN)
    html = fewer.get_data(as_text=True)
    assert fewer.status_code == 422 and "Hires going there already: 2. Places cannot be fewer." in html
    assert 'value="静安寺店"' in input_tag(html, "name") and 'aria-invalid="true"' in input_tag(html, "open_places")
    assert f'action="/admin/stores/{store.id}"' in html  # still editing the same store
    saved = client.post(f"/admin/stores/{store.id}", data={**typed, "name": "静安寺店", "open_places": "2"})
    assert saved.status_code == 303
    db.session.expire_all()
    assert (store.name, store.open_places) == ("静安寺店", 2)
    assert client.post("/admin/stores/999999", data=typed).status_code == 404
    audit = db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.detail).where(AuditEvent.object_type == "store").order_by(AuditEvent.id)
    ).all()
    assert audit == [("store.create", ""), ("store.edit", "name open_places")]


def test_the_list_filters_by_district_or_name_and_pages(app, admin, now):
    for n in range(55):
        db.session.add(Store(name=f"Store {n:02d}", district="徐汇区" if n % 2 else "静安区", open_places=2))
    db.session.add(Store(name="静安寺旗舰店", district="黄浦区", open_places=2))
    db.session.commit()
    client = signed_in(app.test_client(), admin)
    page = client.get("/admin/stores", headers=EN).get_data(as_text=True)
    assert "Page 1 of 2" in page and 'href="/admin/stores?page=2"' in page
    jingan = client.get("/admin/stores?q=静安", headers=EN).get_data(as_text=True)
    assert "静安寺旗舰店" in jingan and "Store 00" in jingan and "Store 01" not in jingan  # district or name
    assert "Page 1 of 2" not in jingan
    upper = client.get("/admin/stores?q=STORE 0", headers=EN).get_data(as_text=True)
    assert "Store 03" in upper and "Store 13" not in upper  # any case
    assert "No store's district or name holds" in client.get("/admin/stores?q=%25", headers=EN).get_data(as_text=True)


def test_hr_who_are_not_admins_get_403(app, hr):
    store = gen_store("静安店")
    client = signed_in(app.test_client(), hr)
    assert client.get("/admin/stores").status_code == 403
    assert client.post("/admin/stores", data={"name": "新店", "open_places": "1"}).status_code == 403
    assert client.post(f"/admin/stores/{store.id}", data={"name": "新店", "open_places": "1"}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Store)) == 1


def profile_form(candidate: Candidate, **changes) -> dict:
    fields = {
        "name": candidate.name,
        "phone": candidate.phone or "",
        "email": candidate.email or "",
        "position": candidate.position,
        "site": candidate.site,
        "district": candidate.district,
        "source_channel": candidate.source_channel,
        "owner": str(candidate.owner_id or ""),
        "tags": "",
        **changes,
    }
    return {f"profile-{name}": value for name, value in fields.items()}


def test_hr_give_a_store_on_the_candidate_page_their_district_first(app, client, site, hr, now):
    # Latin names: every database collation orders them alike.
    pudong, jingan = gen_store("Pudong Store", "Pudong"), gen_store("Jingan Store", "Jingan")
    west, east = gen_store("Xuhui West", "Xuhui"), gen_store("Xuhui East", "Xuhui")
    candidate = person(site, now, "王小明", owner=hr)
    signed_in(client, hr)
    page = client.get(f"/hr/candidates/{candidate.id}", headers=EN).get_data(as_text=True)
    assert options(page, "store-store") == ["", str(jingan.id), str(pudong.id), str(east.id), str(west.id)]
    assert "In their district" not in page  # no district yet: by district and name

    moved = client.post(f"/hr/candidates/{candidate.id}/profile", data=profile_form(candidate, district=" Xuhui "))
    assert moved.status_code == 303
    db.session.expire_all()
    assert candidate.district == "Xuhui" and history(candidate.id, "candidate.edit") == ["district"]
    page = client.get(f"/hr/candidates/{candidate.id}", headers=EN).get_data(as_text=True)
    assert options(page, "store-store") == ["", str(east.id), str(west.id), str(jingan.id), str(pudong.id)]
    assert '<optgroup label="In their district">' in page and "Xuhui West · Xuhui · 0/5 places taken" in page

    chosen = client.post(f"/hr/candidates/{candidate.id}/store", data={"store-store": str(west.id)})
    assert chosen.status_code == 303 and chosen.headers["Location"].endswith("#store-title")
    db.session.expire_all()
    assert candidate.store_id == west.id
    assert history(candidate.id, "store.assign") == [f"store {west.id}"]
    page = client.get(f"/hr/candidates/{candidate.id}", headers=EN).get_data(as_text=True)
    assert re.search(rf'<option selected value="{west.id}">Xuhui West · Xuhui · 1/5 places taken', page)
    assert 'Store assigned <span class="muted">(Xuhui West)</span>' in page  # by name on the staff changes
    again = client.post(f"/hr/candidates/{candidate.id}/store", data={"store-store": str(west.id)})
    assert again.status_code == 303 and len(history(candidate.id, "store.assign")) == 1  # unchanged: not twice
    cleared = client.post(f"/hr/candidates/{candidate.id}/store", data={"store-store": ""})
    assert cleared.status_code == 303
    db.session.expire_all()
    assert candidate.store_id is None and history(candidate.id, "store.assign")[-1] == "store cleared"
    html = client.get(f"/hr/candidates/{candidate.id}", headers=EN).get_data(as_text=True)
    assert "(no store)" in html

    theirs = person(site, now, "别人的", owner=gen_user("hr", email="other@example.com"))
    forbidden = client.post(f"/hr/candidates/{theirs.id}/store", data={"store-store": str(west.id)})
    assert forbidden.status_code == 404  # like a candidate who does not exist
    db.session.expire_all()
    assert theirs.store_id is None


def test_a_full_store_is_refused_and_nothing_changes(app, client, site, hr, now):
    gen_reasons()
    full, other = gen_store("徐汇店", "徐汇区", open_places=1), gen_store("浦东店", "浦东新区")
    occupant = person(site, now, "先来的")
    assert assign_store(occupant, full.id, actor_id=hr.id, now=now)
    candidate = person(site, now, "王小明", owner=hr)
    assign_store(candidate, other.id, actor_id=hr.id, now=now)
    db.session.commit()
    signed_in(client, hr)
    refused = client.post(f"/hr/candidates/{candidate.id}/store", data={"store-store": str(full.id)}, headers=EN)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    store_card = html.split('id="store-title"', 1)[1].split("</section>", 1)[0]
    assert "徐汇店 is full (places for new hires: 1): choose another." in store_card
    assert re.search(rf'<option selected value="{full.id}">', store_card)  # the choice made stays
    db.session.expire_all()
    assert candidate.store_id == other.id and history(candidate.id, "store.assign") == [f"store {other.id}"]

    # Who left frees their place; who left cannot be given one.
    reason = db.session.scalars(sa.select(db.metadata.tables["reason"].c.id)).first()
    mark_left(occupant, kind="withdrew", reason_id=reason, actor=hr, now=now)
    db.session.commit()
    assert client.post(f"/hr/candidates/{candidate.id}/store", data={"store-store": str(full.id)}).status_code == 303
    with force_locale("en"), pytest.raises(StoreError, match="left"):
        assign_store(occupant, other.id, actor_id=hr.id, now=now)
    with force_locale("en"), pytest.raises(StoreError, match="does not exist"):
        assign_store(candidate, 999_999, actor_id=hr.id, now=now)
    db.session.rollback()
    db.session.expire_all()
    assert (candidate.store_id, occupant.store_id) == (full.id, full.id)


def test_two_concurrent_assignments_for_a_stores_last_place_one_wins_one_is_refused(app, site, hr, now):
    """The first assignment holds the store's row until it commits; the second waits for it, then counts the
    place as taken. Run on SQLite and on PostgreSQL by the CI."""
    store = gen_store("静安店", "静安区", open_places=1)
    store_id, hr_id = store.id, hr.id
    ids = [person(site, now, "甲").id, person(site, now, "乙").id]
    assigned_first = threading.Event()
    may_commit = threading.Event()
    outcomes: dict[int, object] = {}

    def assign(candidate_id: int, first: bool) -> None:
        with app.app_context(), force_locale("en"):
            try:
                candidate = db.session.get_one(Candidate, candidate_id)
                try:
                    outcomes[candidate_id] = assign_store(candidate, store_id, actor_id=hr_id, now=now)
                except StoreError as refusal:
                    db.session.rollback()
                    outcomes[candidate_id] = str(refusal)
                if first:
                    assigned_first.set()
                    may_commit.wait(10)
                db.session.commit()
            finally:
                db.session.remove()

    one = threading.Thread(target=assign, args=(ids[0], True))
    one.start()
    assert assigned_first.wait(10)
    two = threading.Thread(target=assign, args=(ids[1], False))
    two.start()
    two.join(0.5)
    assert two.is_alive(), "the second assignment must wait for the first's transaction"
    may_commit.set()
    one.join(10)
    two.join(10)
    assert outcomes == {ids[0]: True, ids[1]: "静安店 is full (places for new hires: 1): choose another."}
    db.session.expire_all()
    assert db.session.scalars(sa.select(Candidate.id).where(Candidate.store_id == store_id)).all() == [ids[0]]


def test_the_candidates_page_says_which_store_they_will_join(app, site, hr, now):
    store = gen_store("静安店", "静安区", address="南京西路 1 号")
    candidate = person(site, now, "王小明")
    phone = app.test_client()
    assert "After training you will join:" not in open_page(phone, candidate, **EN).get_data(as_text=True)
    assign_store(candidate, store.id, actor_id=hr.id, now=now)
    db.session.commit()
    page = phone.get("/me", headers=EN).get_data(as_text=True)
    assert "After training you will join: <strong>静安店</strong>" in page and "南京西路 1 号" in page


def test_hr_see_whether_they_confirmed_and_their_place_on_a_waitlist(app, client, site, hr, now):
    cohort = gen_cohort(now.date() + timedelta(days=10), name="December", capacity=2)
    confirmed = person(site, now, "确认了", owner=hr, cohort=cohort)
    unconfirmed = person(site, now, "没确认", owner=hr, cohort=cohort)
    assert confirm_attendance(confirmed.id, now=now)
    other = gen_cohort(now.date() + timedelta(days=12), name="Elsewhere", capacity=0)
    # Waiting in the order they passed: two before ours, one of them for another cohort (not counted), one after.
    first = person(site, now, "最早", passed_days_ago=9)
    elsewhere = person(site, now, "别的班", passed_days_ago=8)
    ours = person(site, now, "我们的", owner=hr, passed_days_ago=7)
    later = person(site, now, "最晚", passed_days_ago=1)
    for waiting, joining in ((later, cohort), (ours, cohort), (elsewhere, other), (first, cohort)):
        assert place_in_cohort(waiting, joining.id, actor_id=hr.id, now=now) == Placement.WAITLISTED
    db.session.commit()
    signed_in(client, hr)

    def profile_card(candidate: Candidate) -> str:
        page = client.get(f"/hr/candidates/{candidate.id}", headers=EN).get_data(as_text=True)
        return " ".join(page.split('id="profile-title"', 1)[1].split("</dl>", 1)[0].split())

    assert "December, " in profile_card(confirmed) and "confirmed they will come on " in profile_card(confirmed)
    assert "not confirmed yet" in profile_card(unconfirmed) and "confirmed they" not in profile_card(unconfirmed)
    assert "on the waitlist of December (position 2)" in profile_card(ours)
    assert "on the waitlist of December (position 1)" in profile_card(first)
    assert "on the waitlist of December (position 3)" in profile_card(later)
    cancel_cohort(cohort, actor_id=hr.id, now=now)
    db.session.commit()
    card = profile_card(confirmed)
    assert "cancelled" in card and "confirmed they" not in card and "not confirmed" not in card
