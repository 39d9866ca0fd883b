"""The authorization matrix: every route × {anonymous, candidate, HR A, HR B, admin} × owned / not owned.

MATRIX writes down what each route answers each actor, built from a few policies (everyone,
candidate_only, hr_only, hr_scoped, admin_only…) with the allowed status spelt out per route. A route
in the URL map with no entry fails ``test_every_route_has_an_entry``: a new route must say who may use it.

The rules: HR see and change their own candidates and unassigned ones, admins every one; any other
candidate or flag id answers 404, exactly as a missing one does. Candidates (password-less: a cookie
from /c/<token>) reach /me and nothing else; anyone else there gets the same 404 as a dead link.
The back-office sends whoever is not logged in to its login page (htmx: 204 with HX-Redirect); the
admin pages answer HR with 403, whatever the id. A refused request leaves the database as it was.
"""

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from portal import create_app
from portal.extensions import db
from portal.models import (
    Candidate,
    ChecklistItem,
    CohortSession,
    ImportUpload,
    Reason,
    Store,
    Story,
    ThreadMessage,
    User,
    utcnow,
)
from portal.models.flags import HR_OUTCOMES
from portal.models.outbox import MessageKind
from portal.models.threads import AskState, Topic
from portal.services.automations import seed_rhythm
from portal.services.flags import snooze_range
from portal.services.importing import read_sheet, sheet_to_bytes
from portal.services.leaving import mark_left
from portal.services.links import issue_calendar_feed
from portal.services.outbox import queue_message
from tests.builders import PASSWORD, gen_candidate, gen_cohort, gen_flag, gen_link, gen_reasons, gen_site, signed_in
from tests.conftest import IsolatedClient, _config, _empty_all_tables

ANONYMOUS, CANDIDATE, HR_A, HR_B, ADMIN = "anonymous", "candidate", "hr_a", "hr_b", "admin"
ACTORS = (ANONYMOUS, CANDIDATE, HR_A, HR_B, ADMIN)

# The object a route with an id is asked about. HR routes: HR A's candidate (or a flag on them), HR B's,
# nobody's. /me routes, from the candidate's side (the candidate is HR A's): a checklist item of their
# own cohort or a published story (owned), another cohort's item or a draft (not owned). Admin routes:
# a reason, which belongs to no one (existing). Any route: an id that does not exist (missing).
OWNED, NOT_OWNED, UNASSIGNED, EXISTING, MISSING = "owned", "not_owned", "unassigned", "existing", "missing"
NO_OBJECT = "-"  # a route without an id
MISSING_ID = 999_999

LOGIN = "login"  # 302 to /hr/login (with ?next= for a GET)
REFUSED = {LOGIN, 403, 404}

Expected = int | str
Cells = dict[tuple[str, str], Expected]


# Policies: each expands into the expected answer of every (actor, object) cell.


def everyone(status: int) -> Cells:
    """Public: the same answer for everybody."""
    return {(actor, NO_OBJECT): status for actor in ACTORS}


def candidate_only(status: int) -> Cells:
    """A /me page: the candidate gets ``status``, everyone else the dead-link 404."""
    return {(actor, NO_OBJECT): status if actor == CANDIDATE else 404 for actor in ACTORS}


def candidate_object(status: int) -> Cells:
    """A /me page about one object: only the candidate, and only for an object that is theirs to see."""
    return {
        (actor, which): status if (actor, which) == (CANDIDATE, OWNED) else 404
        for actor in ACTORS
        for which in (OWNED, NOT_OWNED, MISSING)
    }


def hr_only(status: int) -> Cells:
    """A back-office page about no one in particular: any HR or admin; everyone else to the login."""
    return {(actor, NO_OBJECT): LOGIN if actor in (ANONYMOUS, CANDIDATE) else status for actor in ACTORS}


SEES = {HR_A: {OWNED, UNASSIGNED}, HR_B: {NOT_OWNED, UNASSIGNED}, ADMIN: {OWNED, NOT_OWNED, UNASSIGNED}}


def hr_scoped(status: int) -> Cells:
    """A back-office route on one candidate or flag: ``status`` where the user may see them, else 404."""
    return {
        (actor, which): LOGIN if actor in (ANONYMOUS, CANDIDATE) else status if which in SEES[actor] else 404
        for actor in ACTORS
        for which in (OWNED, NOT_OWNED, UNASSIGNED, MISSING)
    }


def uploader_scoped(status: int) -> Cells:
    """An uploaded spreadsheet is its uploader's alone (admins included): OWNED is HR A's, NOT_OWNED HR B's."""
    mine = {HR_A: OWNED, HR_B: NOT_OWNED}
    return {
        (actor, which): LOGIN if actor in (ANONYMOUS, CANDIDATE) else status if mine.get(actor) == which else 404
        for actor in ACTORS
        for which in (OWNED, NOT_OWNED, MISSING)
    }


def admin_only(status: int, objects: tuple[str, ...] = (NO_OBJECT,)) -> Cells:
    """An admin page: ``status`` for admins (404 for a missing id), 403 for HR whatever the id, else the login."""
    staff = {ANONYMOUS: LOGIN, CANDIDATE: LOGIN, HR_A: 403, HR_B: 403}
    return {
        (actor, which): staff.get(actor, 404 if which == MISSING else status) for actor in ACTORS for which in objects
    }


def hr_object(status: int | dict[str, int]) -> Cells:
    """A back-office page about a thing everyone in the office shares (a cohort): any HR or admin (``status``, or
    one per actor) for one that exists, 404 for a missing one; anyone else to the login."""
    answer = status if isinstance(status, dict) else dict.fromkeys((HR_A, HR_B, ADMIN), status)
    return {
        (actor, which): LOGIN if actor in (ANONYMOUS, CANDIDATE) else 404 if which == MISSING else answer[actor]
        for actor in ACTORS
        for which in (EXISTING, MISSING)
    }


def admin_object(status: int) -> Cells:
    """An admin page about one thing: HR get the same 403 for one that exists and one that does not."""
    return admin_only(status, (EXISTING, MISSING))


@dataclass
class World:
    """Ids of everything the cells need (ORM objects would go stale between requests)."""

    candidates: dict[str, int]  # by OWNED / NOT_OWNED / UNASSIGNED
    flags: dict[str, int]  # an open flag on each of them
    asks: dict[str, int]  # a question each of them asked HR
    items: dict[str, int]  # checklist items: of the candidate's cohort, of another cohort
    stories: dict[str, int]  # published, draft
    reasons: dict[str, int]  # EXISTING: the first reason in use
    uploads: dict[str, int]  # spreadsheets waiting to be imported: HR A's (OWNED), HR B's (NOT_OWNED)
    messages: dict[str, int]  # EXISTING: a failed message in the outbox
    automations: dict[str, int]  # EXISTING: the rhythm's first automation
    cohorts: dict[str, int]  # EXISTING: "Ours" (the candidate's); NOT_OWNED: "Theirs"
    sessions: dict[str, int]  # EXISTING: a session of "Ours"
    stores: dict[str, int]  # EXISTING: a store
    token: str  # the link of the candidate actor (HR A's candidate)
    feed_token: str  # their calendar subscription's
    emails: dict[str, str]  # by HR_A / HR_B / ADMIN
    stages: dict[str, int]  # by key
    snooze_until: str


@dataclass(frozen=True)
class Entry:
    cells: Cells
    form: Callable[[World], dict] = lambda world: {}
    prepare: Callable[[World], None] | None = None  # runs after the actor's login, before the request


def _all_left(world: World) -> None:
    admin = db.session.scalars(sa.select(User).where(User.email == world.emails[ADMIN])).one()
    for candidate_id in world.candidates.values():
        candidate = db.session.get_one(Candidate, candidate_id)
        mark_left(candidate, kind="withdrew", reason_id=world.reasons[EXISTING], actor=admin, now=utcnow())
    db.session.commit()


def _reason_retired(world: World) -> None:
    db.session.get_one(Reason, world.reasons[EXISTING]).retired_at = utcnow()
    db.session.commit()


def _automation_form() -> dict:
    return {
        "name": "Friday story",
        "trigger": "weekly",
        "weekday": "5",
        "at_time": "15:00",
        "kind": "automated",
        "channels": "email",
        "body_zh": "{{ name }}，周末愉快",
    }


def _contact_form(world: World) -> dict:
    """Its fields are prefixed with the candidate's id: a reached phone call for each (the view reads its own)."""
    ids = [*world.candidates.values(), MISSING_ID]
    return {
        f"contact-{id_}-{name}": value for id_ in ids for name, value in [("channel", "phone"), ("outcome", "reached")]
    }


# (endpoint, method) -> who gets what. Allowed cells hold what the app answers a plausible form.
MATRIX: dict[tuple[str, str], Entry] = {
    # Everyone's pages.
    ("site.index", "GET"): Entry(everyone(200)),
    ("site.healthz", "GET"): Entry(everyone(200)),
    ("site.robots", "GET"): Entry(everyone(200)),
    ("site.privacy", "GET"): Entry(everyone(200)),
    ("site.switch_language", "POST"): Entry(everyone(303), form=lambda w: {"locale": "en", "next": "/"}),
    # The link is the credential: whoever holds it gets the cookie and /me.
    ("candidate.open_link", "GET"): Entry(everyone(303)),
    # The candidate's own pages.
    ("candidate.page", "GET"): Entry(candidate_only(200)),
    ("candidate.calendar", "GET"): Entry(candidate_only(200)),
    ("candidate.stories", "GET"): Entry(candidate_only(200)),
    ("candidate.story", "GET"): Entry(candidate_object(200)),
    ("candidate.checklist_toggle", "POST"): Entry(candidate_object(303), form=lambda w: {"done": "1"}),
    ("candidate.messages_preference", "POST"): Entry(candidate_only(303), form=lambda w: {"stop": "1"}),
    ("candidate.confirm", "POST"): Entry(candidate_only(303)),
    ("candidate.subscribe", "POST"): Entry(candidate_only(200)),
    ("candidate.ask_hr", "POST"): Entry(candidate_only(303), form=lambda w: {"topic": "question", "body": "几点到？"}),
    ("candidate.thread", "GET"): Entry(candidate_only(200)),
    # A calendar subscription's token is its credential, as a link's is.
    ("candidate.calendar_feed", "GET"): Entry(everyone(200)),
    # HR login and logout: open to all (logout answers 303 to the login page whoever asks).
    ("hr.login", "GET"): Entry(everyone(200)),
    ("hr.login", "POST"): Entry(everyone(200)),  # an empty form: asked again
    ("hr.logout", "POST"): Entry(everyone(303)),
    # Back-office pages listing what the user may see.
    ("hr.queue", "GET"): Entry(hr_only(200)),
    ("hr.queue_badge", "GET"): Entry(hr_only(200)),
    ("hr.candidates", "GET"): Entry(hr_only(200)),
    ("hr.talent_pool", "GET"): Entry(hr_only(200)),
    ("hr.export_candidates", "GET"): Entry(hr_only(200)),
    ("hr.bulk_candidates", "POST"): Entry(
        hr_only(200),
        form=lambda w: {"bulk-action": "tag", "bulk-tag": "x", "bulk-ids": [*w.candidates.values(), MISSING_ID]},
    ),
    ("hr.add_candidate_page", "GET"): Entry(hr_only(200)),
    ("hr.add_candidate_page", "POST"): Entry(
        hr_only(303),
        form=lambda w: {
            "name": "新人",
            "phone": "+8613912345678",
            "owner": "",
            "cohort": "",
            "stage": w.stages["passed"],
        },
    ),
    # One candidate.
    ("hr.candidate_page", "GET"): Entry(hr_scoped(200)),
    ("hr.move_stage", "POST"): Entry(
        hr_scoped(303), form=lambda w: {"stage": w.stages["background_check"], "cohort": "", "note": ""}
    ),
    ("hr.next_stage", "POST"): Entry(hr_scoped(303), form=lambda w: {"from_stage": w.stages["passed"]}),
    ("hr.mark_candidate_started", "POST"): Entry(hr_scoped(303)),
    ("hr.mark_candidate_left", "POST"): Entry(
        hr_scoped(303), form=lambda w: {"leave-kind": "withdrew", "leave-reason": w.reasons[EXISTING]}
    ),
    ("hr.reactivate_candidate", "POST"): Entry(
        hr_scoped(303), form=lambda w: {"back-stage": w.stages["passed"]}, prepare=_all_left
    ),
    ("hr.set_tier", "POST"): Entry(hr_scoped(303), form=lambda w: {"tier": "B"}),
    ("hr.issue_candidate_link", "POST"): Entry(hr_scoped(200)),
    ("hr.revoke_candidate_links", "POST"): Entry(hr_scoped(303)),
    # What a candidate asked (a question here): answered where the user may see them; a question is no request.
    ("hr.answer_ask", "POST"): Entry(hr_scoped(303), form=lambda w: {"body": "要带。"}),
    ("hr.accept_ask", "POST"): Entry(hr_scoped(409)),
    ("hr.decline_ask", "POST"): Entry(hr_scoped(409), form=lambda w: {"body": "不行"}),
    ("hr.send_candidate_link", "POST"): Entry(hr_scoped(303), form=lambda w: {"request": "0" * 32}),
    ("hr.send_candidate_note", "POST"): Entry(hr_scoped(303), form=lambda w: {"request": "0" * 32, "text": "明天见"}),
    ("hr.log_candidate_contact", "POST"): Entry(hr_scoped(303), form=_contact_form),
    ("hr.add_candidate_note", "POST"): Entry(hr_scoped(303), form=lambda w: {"note-body": "Prefers WeChat."}),
    ("hr.edit_candidate_profile", "POST"): Entry(
        hr_scoped(303), form=lambda w: {"profile-name": "改名", "profile-phone": "+8613900000009", "profile-owner": ""}
    ),
    # One flag, by its candidate.
    ("hr.claim", "POST"): Entry(hr_scoped(303)),
    ("hr.snooze", "POST"): Entry(hr_scoped(303), form=lambda w: {"until": w.snooze_until}),
    ("hr.resolve", "POST"): Entry(hr_scoped(303), form=lambda w: {"outcome": HR_OUTCOMES[0].value, "note": ""}),
    # Spreadsheet import: the upload page for any HR; an uploaded file for its uploader only.
    ("hr.import_start", "GET"): Entry(hr_only(200)),
    ("hr.import_upload", "POST"): Entry(hr_only(303), form=lambda w: {"file": (io.BytesIO(SHEET), "people.csv")}),
    ("hr.import_preview", "GET"): Entry(uploader_scoped(200)),
    ("hr.import_rejected", "GET"): Entry(uploader_scoped(200)),
    ("hr.import_preview_again", "POST"): Entry(
        uploader_scoped(200), form=lambda w: {"mapped": "1", "col-0": "name", "col-1": "phone"}
    ),
    ("hr.import_confirm", "POST"): Entry(
        uploader_scoped(200), form=lambda w: {"mapped": "1", "col-0": "name", "col-1": "phone"}
    ),
    # Admin pages.
    ("admin.outbox", "GET"): Entry(admin_only(200)),
    ("admin.automations", "GET"): Entry(admin_only(200)),
    ("admin.add_rhythm", "POST"): Entry(admin_only(303)),
    ("admin.new_automation", "GET"): Entry(admin_only(200)),
    ("admin.new_automation", "POST"): Entry(admin_only(303), form=lambda w: _automation_form()),
    ("admin.edit_automation", "GET"): Entry(admin_object(200)),
    ("admin.edit_automation", "POST"): Entry(admin_object(303), form=lambda w: _automation_form()),
    ("admin.switch", "POST"): Entry(admin_object(303), form=lambda w: {"on": "1"}),
    ("admin.checklist", "GET"): Entry(admin_only(200)),
    # Cohorts: planned by admins; HR see each cohort's members they look after (hr.cohorts).
    ("admin.cohorts", "GET"): Entry(admin_only(200)),
    ("admin.new_cohort", "GET"): Entry(admin_only(200)),
    ("admin.new_cohort", "POST"): Entry(admin_only(303), form=lambda w: COHORT_FORM),
    ("admin.cohort", "GET"): Entry(admin_object(200)),
    ("admin.cohort", "POST"): Entry(admin_object(303), form=lambda w: COHORT_FORM),
    ("admin.add_session", "POST"): Entry(admin_object(303), form=lambda w: session_form()),
    ("admin.edit_session", "POST"): Entry(admin_object(303), form=lambda w: session_form()),
    ("admin.remove_session", "POST"): Entry(admin_object(303)),
    # "Ours" has its sessions already: refused (422), which is still the admin's answer to give.
    ("admin.copy_curriculum", "POST"): Entry(admin_object(422), form=lambda w: {"source": str(w.cohorts[NOT_OWNED])}),
    ("admin.cancel_cohort", "POST"): Entry(admin_object(303), form=lambda w: {"confirm": "1"}),
    ("admin.cohort_series", "GET"): Entry(admin_only(200)),
    ("admin.cohort_series", "POST"): Entry(
        admin_only(200),
        form=lambda w: {
            "first_month": "2030-03",
            "months": "2",
            "weekday": "1",
            "nth": "1",
            "working_days": "5",
            "action": "preview",
        },
    ),
    ("admin.stores", "GET"): Entry(admin_only(200)),
    ("admin.add_store", "POST"): Entry(
        admin_only(303), form=lambda w: {"name": "静安店", "district": "静安区", "open_places": "2"}
    ),
    ("admin.edit_store", "POST"): Entry(admin_object(303), form=lambda w: {"name": "静安店", "open_places": "2"}),
    # "none" for someone without a store changes nothing: 303; someone the user may not see: 404 before any write.
    ("hr.assign_candidate_store", "POST"): Entry(hr_scoped(303), form=lambda w: {"store-store": ""}),
    ("hr.cohorts", "GET"): Entry(hr_only(200)),
    ("hr.cohort", "GET"): Entry(hr_object(200)),
    ("hr.cohort_roster_file", "GET"): Entry(hr_object(200)),
    ("hr.cohort_sign_in", "GET"): Entry(hr_object(200)),
    # HR B looks after nobody in "Ours": nobody to write to (422); HR A and admins write to HR A's candidate.
    ("hr.message_unconfirmed", "POST"): Entry(
        hr_object({HR_A: 200, HR_B: 422, ADMIN: 200}), form=lambda w: {"text": "请确认", "request": "r"}
    ),
    ("hr.cohort_first_day", "POST"): Entry(hr_object(422)),  # "Ours" starts in ten days: not yet
    ("hr.cohort_no_shows", "POST"): Entry(hr_object(422)),  # nobody ticked
    ("admin.add_checklist_item", "POST"): Entry(admin_only(303), form=lambda w: {"label_zh": "工牌"}),
    ("admin.edit_checklist_item", "POST"): Entry(admin_object(303), form=lambda w: {"label_zh": "工牌"}),
    ("admin.retry_outbox_message", "POST"): Entry(admin_object(303)),
    ("admin.work_calendar", "GET"): Entry(admin_only(200)),
    ("admin.save_work_calendar", "POST"): Entry(admin_object(303), form=lambda w: {"days": "2027-02-06 work 调休上班"}),
    ("admin.reasons", "GET"): Entry(admin_only(200)),
    ("admin.add_reason", "POST"): Entry(admin_only(303), form=lambda w: {"label_zh": "搬家", "label_en": "Moved away"}),
    ("admin.edit_reason", "GET"): Entry(admin_object(200)),
    ("admin.edit_reason", "POST"): Entry(
        admin_object(303), form=lambda w: {"label_zh": "改过的", "label_en": "Reworded"}
    ),
    ("admin.move_reason", "POST"): Entry(admin_object(303), form=lambda w: {"direction": "down"}),
    ("admin.retire_reason", "POST"): Entry(admin_object(303)),
    ("admin.restore_reason", "POST"): Entry(admin_object(303), prepare=_reason_retired),
}

IGNORED_ENDPOINTS = {"static"}
# Ids of things someone owns: each such route is also asked about someone else's thing.
OWNED_ARGUMENTS = {"candidate_id", "flag_id", "ask_id", "item_id", "story_id", "upload_id"}


def _routes(app) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in IGNORED_ENDPOINTS
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_has_an_entry(app):
    missing = sorted(_routes(app) - MATRIX.keys())
    assert not missing, f"routes with no entry in MATRIX (say who may use them): {missing}"
    stale = sorted(MATRIX.keys() - _routes(app))
    assert not stale, f"entries for routes that no longer exist: {stale}"


def test_every_route_with_an_id_is_tried_on_what_is_not_yours(app):
    """A route about one object is asked about a missing one too, and about someone else's if things have owners."""
    for rule in app.url_map.iter_rules():
        ids = {argument for argument in rule.arguments if argument.endswith("_id")}
        for method in rule.methods - {"HEAD", "OPTIONS"} if ids else ():
            asked = {which for _actor, which in MATRIX[rule.endpoint, method].cells}
            needed = {OWNED, NOT_OWNED, MISSING} if ids & OWNED_ARGUMENTS else {EXISTING, MISSING}
            assert needed <= asked, (rule.endpoint, method, sorted(needed - asked))


@pytest.fixture(scope="module")
def one_app(database_url, redis_url):
    """One app for the whole matrix: a new app compiles every template again, which would cost most
    of each cell's time. Each cell still starts from an empty database and Redis (``app`` below)."""
    app = create_app(_config(database_url, redis_url))
    app.test_client_class = IsolatedClient
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(one_app, redis_url):
    """conftest's ``app`` on the module's one app, emptied afterwards as conftest's ``make_app`` does."""
    redis.Redis.from_url(redis_url).flushdb()
    one_app.extensions.pop("keepwarm_shared_content", None)  # rows cached from the previous cell's database
    with one_app.app_context():
        yield one_app
        db.session.remove()
        _empty_all_tables()


@cache
def _fast_hash() -> str:
    """The builders' password, hashed cheaply: hundreds of logins must not each cost a real hash."""
    return generate_password_hash(PASSWORD, "pbkdf2:sha256:1")


def _user(role: str, email: str) -> User:
    user = User(email=email, name=email.split("@")[0], role=role, password_hash=_fast_hash())
    db.session.add(user)
    db.session.commit()
    return user


SHEET = "姓名,手机\n新人,13912345678\n".encode()


def _upload(user: User, now) -> int:
    upload = ImportUpload(
        uploaded_by_id=user.id,
        uploaded_at=now,
        expires_at=now + timedelta(days=1),
        filename="people.csv",
        sheet=sheet_to_bytes(read_sheet("people.csv", SHEET)),
    )
    db.session.add(upload)
    db.session.commit()
    return upload.id


COHORT_FORM = {
    "name": "改过",
    "place_zh": "培训中心",
    "starts_on": "2030-03-04",
    "ends_on": "2030-03-08",
    "capacity": "20",
}


def session_form() -> dict:
    """A session on the first day of "Ours" (gen_cohort starts in ten days)."""
    return {
        "day": (utcnow().date() + timedelta(days=10)).isoformat(),
        "start": "09:00",
        "end": "10:00",
        "title_zh": "新课",
    }


def _store() -> int:
    store = Store(name="八佰伴店", district="浦东新区", open_places=3)
    db.session.add(store)
    db.session.commit()
    return store.id


def _feed(candidate: Candidate, now) -> str:
    token = issue_calendar_feed(candidate, now=now)
    db.session.commit()
    return token


def _question(candidate: Candidate, now) -> int:
    """A question waiting for HR, written as services.threads.ask writes it (its task flag aside: the matrix
    is about who may answer, and the scan would cost every cell)."""
    question = ThreadMessage(candidate_id=candidate.id, topic=Topic.QUESTION, body="要带身份证吗？", written_at=now)
    question.state = AskState.WAITING
    db.session.add(question)
    db.session.commit()
    return question.id


def _failed_message(candidate: Candidate, now) -> int:
    row = queue_message(candidate, kind=MessageKind.NOTE, key="note:failed", subject="s", body="b", now=now)
    row.status, row.reason = "failed", "550 no such mailbox"
    db.session.commit()
    return row.id


@pytest.fixture
def world(app) -> World:
    now = utcnow()
    stages = gen_site()
    gen_reasons()
    hr_a, hr_b, admin = _user("hr", "a@example.com"), _user("hr", "b@example.com"), _user("admin", "boss@example.com")
    cohort, elsewhere = gen_cohort(name="Ours"), gen_cohort(name="Theirs")
    reached = [("passed", now - timedelta(days=1))]
    candidates = {
        OWNED: gen_candidate(stages, reached, name="甲的人", owner=hr_a, cohort=cohort, email="jia@example.com"),
        NOT_OWNED: gen_candidate(stages, reached, name="乙的人", owner=hr_b, email="yi@example.com"),
        UNASSIGNED: gen_candidate(stages, reached, name="没人管", email="nobody@example.com"),
    }
    items = {OWNED: ChecklistItem(position=90, label_zh="本班", cohort_id=cohort.id)}
    items[NOT_OWNED] = ChecklistItem(position=91, label_zh="别班", cohort_id=elsewhere.id)
    draft = Story(title_zh="草稿", published_at=None)
    db.session.add_all([*items.values(), draft])
    db.session.commit()
    published = db.session.scalars(sa.select(Story.id).where(Story.published_at.is_not(None))).first()
    first_reason = db.session.scalars(sa.select(Reason.id).where(Reason.retired_at.is_(None)).order_by(Reason.position))
    return World(
        candidates={which: candidate.id for which, candidate in candidates.items()},
        flags={which: gen_flag(candidate, now=now).id for which, candidate in candidates.items()},
        asks={which: _question(candidate, now) for which, candidate in candidates.items()},
        items={which: item.id for which, item in items.items()},
        stories={OWNED: published, NOT_OWNED: draft.id},
        reasons={EXISTING: first_reason.first()},
        uploads={OWNED: _upload(hr_a, now), NOT_OWNED: _upload(hr_b, now)},
        messages={EXISTING: _failed_message(candidates[OWNED], now)},
        automations={EXISTING: seed_rhythm(now=now, enabled=False)[0].id},
        cohorts={EXISTING: cohort.id, NOT_OWNED: elsewhere.id},
        sessions={
            EXISTING: db.session.scalars(
                sa.select(CohortSession.id).where(CohortSession.cohort_id == cohort.id)
            ).first()
        },
        stores={EXISTING: _store()},
        token=gen_link(candidates[OWNED], now=now),
        feed_token=_feed(candidates[OWNED], now),
        emails={HR_A: hr_a.email, HR_B: hr_b.email, ADMIN: admin.email},
        stages={key: stage.id for key, stage in stages.items()},
        snooze_until=snooze_range(now)[0].isoformat(),
    )


def _client_as(app, world: World, actor: str):
    client = app.test_client()
    if actor == CANDIDATE:
        assert client.get(f"/c/{world.token}").status_code == 303
    elif actor != ANONYMOUS:
        signed_in(client, world.emails[actor])
    return client


# How each URL argument is filled in for an (owned / not owned / …) cell.
ARGUMENTS: dict[str, Callable[[World, str], object]] = {
    "candidate_id": lambda world, which: world.candidates.get(which, MISSING_ID),
    "flag_id": lambda world, which: world.flags.get(which, MISSING_ID),
    "ask_id": lambda world, which: world.asks.get(which, MISSING_ID),
    "item_id": lambda world, which: world.items.get(which, MISSING_ID),
    "checklist_item_id": lambda world, which: world.items[OWNED] if which == EXISTING else MISSING_ID,
    "story_id": lambda world, which: world.stories.get(which, MISSING_ID),
    "reason_id": lambda world, which: world.reasons.get(which, MISSING_ID),
    "upload_id": lambda world, which: world.uploads.get(which, MISSING_ID),
    "message_id": lambda world, which: world.messages.get(which, MISSING_ID),
    "automation_id": lambda world, which: world.automations.get(which, MISSING_ID),
    "year": lambda world, which: 1900 if which == MISSING else 2027,  # beyond the calendar's years: 404
    "fmt": lambda world, which: "csv",
    "cohort_id": lambda world, which: world.cohorts[EXISTING] if which == EXISTING else MISSING_ID,
    "session_id": lambda world, which: world.sessions[EXISTING] if which == EXISTING else MISSING_ID,
    "store_id": lambda world, which: world.stores[EXISTING] if which == EXISTING else MISSING_ID,
    "token": lambda world, which: world.token,
    "feed_token": lambda world, which: world.feed_token,
}


def _url(app, endpoint: str, method: str, world: World, which: str) -> str:
    rule = next(rule for rule in app.url_map.iter_rules(endpoint) if method in rule.methods)
    unknown = rule.arguments - ARGUMENTS.keys()
    assert not unknown, f"{endpoint}: say in ARGUMENTS how to fill in {sorted(unknown)}"
    values = {argument: ARGUMENTS[argument](world, which) for argument in rule.arguments}
    return app.url_map.bind("localhost").build(endpoint, values, method=method)


def _snapshot() -> dict[str, list]:
    """Every row of every table: a refused request must change none."""
    return {table.name: db.session.execute(sa.select(table)).all() for table in db.metadata.sorted_tables}


def _check(response, expected: Expected, method: str, url: str) -> None:
    if expected != LOGIN:
        assert response.status_code == expected, (response.status_code, url)
        return
    assert response.status_code == 302, (response.status_code, url)
    location = urlsplit(response.headers["Location"])
    assert location.path == "/hr/login"
    # A GET comes back here after the login; a POST's form is gone, so it goes to the queue.
    assert parse_qs(location.query).get("next") == ([url] if method == "GET" else None)


CELLS = [
    pytest.param(endpoint, method, actor, which, expected, id=f"{endpoint}-{method}-{actor}-{which}-{expected}")
    for (endpoint, method), entry in MATRIX.items()
    for (actor, which), expected in entry.cells.items()
]


@pytest.mark.parametrize("endpoint, method, actor, which, expected", CELLS)
def test_cell(app, world, endpoint, method, actor, which, expected):
    entry = MATRIX[endpoint, method]
    client = _client_as(app, world, actor)
    if entry.prepare:
        entry.prepare(world)
    url = _url(app, endpoint, method, world, which)
    before = _snapshot() if expected in REFUSED else None
    response = client.open(url, method=method, data=entry.form(world) if method == "POST" else None)
    _check(response, expected, method, url)
    if before is not None:
        assert _snapshot() == before, "a refused request changed the database"


HTMX_CASES = [
    pytest.param(endpoint, method, which, id=f"{endpoint}-{method}")
    for (endpoint, method), entry in MATRIX.items()
    for (actor, which), expected in entry.cells.items()
    if actor == ANONYMOUS and which in (NO_OBJECT, OWNED, EXISTING) and expected == LOGIN
]


@pytest.mark.parametrize("endpoint, method, which", HTMX_CASES)
def test_htmx_is_refused_alike(app, world, endpoint, method, which):
    """htmx gets the login as a page to load (204 + HX-Redirect), and HR B the same 404 on HR A's candidate."""
    entry = MATRIX[endpoint, method]
    if entry.prepare:
        entry.prepare(world)
    htmx = {"HX-Request": "true"}
    url = _url(app, endpoint, method, world, which)
    data = entry.form(world) if method == "POST" else None
    response = app.test_client().open(url, method=method, data=data, headers=htmx)
    assert response.status_code == 204 and urlsplit(response.headers["HX-Redirect"]).path == "/hr/login"
    if entry.cells.get((HR_B, OWNED)) == 404:
        client = _client_as(app, world, HR_B)
        assert client.open(url, method=method, data=data, headers=htmx).status_code == 404
