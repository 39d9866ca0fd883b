"""One candidate's whole story for HR: profile, timeline with who moved it, flags, visits, links, audit."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import aliased
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.2; stubs lag

from portal.candidate.queries import checklist_entry, checklist_query
from portal.candidate.timeline import build_timeline
from portal.extensions import db
from portal.hr.blueprint import bp
from portal.hr.forms import (
    AddCandidateForm,
    LeaveForm,
    MoveStageForm,
    NoteForm,
    ProfileForm,
    ReactivateForm,
    StoreForm,
)
from portal.hr.queries import (
    STORY_LISTS,
    assignable_cohorts,
    assignable_owners,
    candidate_story,
    open_rules_by_candidate,
    talent_pool_query,
    visible_candidate,
    visible_candidates,
)
from portal.hr.queue import contact_form, queue_row_answer
from portal.hr.wording import left_kind_label
from portal.i18n import localized
from portal.jobs.messages import wake_sender
from portal.models import AuditEvent, Candidate, Cohort, Stage, Store, ThreadMessage, WaitlistEntry, utcnow
from portal.models.candidates import Channel, LeftKind, Tier
from portal.models.threads import AskState, Topic
from portal.services.automations import sent_this_week
from portal.services.candidates import (
    CandidateError,
    DuplicateCandidate,
    add_candidate,
    add_note,
    parse_tags,
    update_profile,
)
from portal.services.channels import sms_available
from portal.services.contacts import ContactError, cadence_days, log_contact
from portal.services.leaving import LeavingError, mark_left, mark_started, reactivate
from portal.services.links import revoke_all_links
from portal.services.outbox import (
    BY_EMAIL_FIRST,
    BY_SMS_FIRST,
    NOTE_MAX_CHARACTERS,
    OutboxError,
    is_request_key,
    new_request_key,
    send_link_by_hand,
    send_note_by_hand,
)
from portal.services.reasons import reasons_in_order
from portal.services.scan import rescan_candidate
from portal.services.stages import StageError, move_to_stage
from portal.services.stores import StoreError, assign_store, stores_for
from portal.services.threads import (
    BODY_MAX,
    ThreadError,
    accept_request,
    answer_question,
    decline_request,
    thread_of,
)
from portal.services.worktime import organisation_date, organisation_zone
from portal.templating import show_page_of
from portal.web import htmx_aware, htmx_request, id_arg, page_arg

PER_PAGE = 20


def _candidate_or_404(candidate_id: int, now) -> Candidate:
    return db.first_or_404(visible_candidate(current_user, candidate_id, now))


def _pipeline() -> Sequence[Stage]:
    return db.session.scalars(sa.select(Stage).order_by(Stage.position)).all()


def _stage_choices(stages: Sequence[Stage]) -> list[tuple[int, str]]:
    return [(stage.id, f"{n}. {localized(stage, 'label')}") for n, stage in enumerate(stages, 1)]


def _utc_from_form(value: datetime | None) -> datetime | None:
    """A datetime-local input's value, typed on the organisation's clock, in UTC."""
    return value.replace(tzinfo=organisation_zone()).astimezone(UTC) if value else None


def _refused(candidate_id: int, now, field, error: Exception, **forms):
    """Nothing changed: the page again, the refused form with its input and the reason on ``field``."""
    db.session.rollback()
    field.errors = [str(error)]
    return _render(_candidate_or_404(candidate_id, now), now, 422, **forms)


def _back_to_page(candidate_id: int, **anchor):
    db.session.commit()
    return redirect(url_for("hr.candidate_page", candidate_id=candidate_id, **anchor), 303)


def _cohort_choices() -> list[tuple[str, str]]:
    return assignable_cohorts(organisation_date(utcnow()))


def _stage_form(candidate: Candidate, stages: Sequence[Stage], formdata=None) -> MoveStageForm:
    form = MoveStageForm(formdata=formdata)
    form.stage.choices = _stage_choices(stages)
    form.cohort.choices = [("", _("Keep as it is")), *_cohort_choices()]
    if formdata is None:
        form.cohort.data = ""
        current = next((stage for stage in stages if stage.id == candidate.current_stage_id), None)
        following = [stage for stage in stages if current is None or stage.position > current.position]
        form.stage.data = (following or stages)[0].id if stages else None
    return form


def _leave_form(formdata=None) -> LeaveForm:
    form = LeaveForm(formdata=formdata, prefix="leave")  # prefixes: one page, three forms, unique ids
    form.kind.choices = [("", "—")] + [(kind.value, left_kind_label(kind)) for kind in LeftKind]
    reasons = db.session.scalars(reasons_in_order(active_only=True))
    form.reason.choices = [("", "—")] + [(str(reason.id), localized(reason, "label")) for reason in reasons]
    return form


def _reactivate_form(candidate: Candidate, stages: Sequence[Stage], formdata=None) -> ReactivateForm:
    form = ReactivateForm(formdata=formdata, prefix="back")
    form.stage.choices = _stage_choices(stages)
    if formdata is None:
        form.stage.data = candidate.current_stage_id  # back where they left, unless HR choose otherwise
    return form


def owner_choices() -> list[tuple[str, str]]:
    """HR give candidates to themselves or leave them unassigned; admins to anyone active."""
    return [("", _("unassigned"))] + [(str(id_), name) for id_, name in assignable_owners(current_user)]


def _profile_form(candidate: Candidate, formdata=None) -> ProfileForm:
    form = ProfileForm(formdata=formdata, prefix="profile")
    choices = owner_choices()
    if candidate.owner and str(candidate.owner_id) not in dict(choices):
        choices.append((str(candidate.owner_id), candidate.owner.name))  # an admin's choice HR may keep
    form.owner.choices = choices
    if formdata is None:
        for field in ("name", "phone", "email", "position", "site", "source_channel", "district"):
            form[field].data = getattr(candidate, field)
        form.owner.data = str(candidate.owner_id or "")
        form.tags.data = ", ".join(candidate.tags or [])
    return form


def _store_form(candidate: Candidate, stores: Sequence[sa.Row], formdata=None) -> StoreForm:
    """Every store (``stores``: stores_for's rows) with its places taken; the candidate's district's first, in a
    group of their own when they have a district with stores."""
    form = StoreForm(formdata=formdata, prefix="store")
    grouped = bool(candidate.district) and any(row.Store.district == candidate.district for row in stores)
    nearby, elsewhere = (_("In their district"), _("Other districts")) if grouped else (None, None)
    form.store.choices = [SelectChoice("", _("none"))] + [
        SelectChoice(
            str(row.Store.id),
            _store_label(row),
            optgroup=nearby if row.Store.district == candidate.district else elsewhere,
        )
        for row in stores
    ]
    if formdata is None:
        form.store.data = str(candidate.store_id or "")
    return form


def _store_label(row: sa.Row) -> str:
    store = row.Store
    parts = [store.name, store.district]
    parts.append(_("%(taken)s/%(places)s places taken", taken=row.taken, places=store.open_places))
    if row.taken >= store.open_places:
        parts.append(_("full"))
    return " · ".join(part for part in parts if part)


def _waiting(candidate_id: int) -> sa.Row | None:
    """The cohort whose waitlist the candidate is on (one at a time: services.cohorts) and their position on it,
    counted in the waitlist's order (when they passed, then who came first)."""
    theirs, ahead = aliased(WaitlistEntry), aliased(WaitlistEntry)
    position = (
        sa.select(sa.func.count() + 1)
        .where(
            ahead.cohort_id == theirs.cohort_id,
            sa.tuple_(ahead.passed_at, ahead.id) < sa.tuple_(theirs.passed_at, theirs.id),
        )
        .scalar_subquery()
    )
    return db.session.execute(
        sa.select(Cohort.name, Cohort.starts_on, position.label("position"))
        .join(theirs, theirs.cohort_id == Cohort.id)
        .where(theirs.candidate_id == candidate_id)
        .limit(1)
    ).first()


def _checklist(candidate: Candidate) -> list:
    """The checklist as the candidate sees it (the same items, the same due days), with what they ticked."""
    starts_on = candidate.cohort.starts_on if candidate.cohort else None
    rows = db.session.execute(checklist_query(candidate.id, candidate.cohort_id)).all()
    return [checklist_entry(row, row.done, starts_on) for row in rows]


def _render(
    candidate: Candidate,
    now,
    status: int = 200,
    duplicate: tuple[int, bool] | None = None,
    message_error: str | None = None,
    message_text: str = "",
    answer_refused: "AnswerRefused | None" = None,
    **forms,
):
    """The page; ``forms`` holds a refused form (move, leave, reactivate, contact, profile, note, store) to show
    with its errors and input; ``duplicate``: (id, may the user see them) of whoever already has the phone or
    email typed."""
    show_page_of("hr.candidate_page", candidate_id=candidate.id)  # also when answering a refused form
    stages = _pipeline()
    zone = organisation_zone()
    story = candidate_story(
        candidate.id, now, pages={name: page_arg(name) for name in STORY_LISTS}, per_page=PER_PAGE, zone=zone
    )
    today = now.astimezone(zone).date()
    starts_on = candidate.cohort.starts_on if candidate.cohort else None
    nodes = build_timeline(stages, story.reached, candidate.current_stage_id, starts_on, today=today, zone=zone)
    reasons = {candidate.id: [rule for _, rule in db.session.execute(open_rules_by_candidate([candidate.id]))]}
    stores = db.session.execute(stores_for(candidate)).all()
    forms = {
        "form": forms.get("move") or _stage_form(candidate, stages),
        "leave_form": forms.get("leave") or _leave_form(),
        "reactivate_form": forms.get("reactivate") or _reactivate_form(candidate, stages),
        "contact_form": forms.get("contact") or contact_form(candidate.id),
        "profile_form": forms.get("profile") or _profile_form(candidate),
        "note_form": forms.get("note") or NoteForm(formdata=None, prefix="note"),
        "store_form": forms.get("store") or _store_form(candidate, stores),
    }
    return (
        render_template(
            "hr/candidate.html",
            candidate=candidate,
            story=story,
            nodes=nodes,
            reasons=reasons,
            now=now,
            today=today,
            cadence={tier: cadence_days(tier) for tier in Tier},
            duplicate=duplicate,
            message_error=message_error,
            message_text=message_text,  # a refused message keeps what HR typed
            # Names this page's "send" forms: the same form sent twice queues one message.
            message_request=new_request_key(),
            sms_ready=sms_available(),
            # The weekly cap holds automated messages back, never HR's: say so before they send one more.
            sent_this_week=sent_this_week(candidate.id, now),
            checklist=_checklist(candidate),
            # Their store as HR chose it (read from the list the form offers: no statement of its own).
            store=next((row for row in stores if row.Store.id == candidate.store_id), None),
            waiting=_waiting(candidate.id),
            weekly_cap=current_app.config["AUTOMATION_WEEKLY_CAP"],
            **_thread_context(candidate, story.thread, answer_refused),
            note_max=NOTE_MAX_CHARACTERS,
            audit_words={
                "stages": {stage.key: localized(stage, "label") for stage in stages},
                "reasons": {
                    reason.label_en: localized(reason, "label") for reason in db.session.scalars(reasons_in_order())
                },
                **_named_in_history(candidate.id),
            },
            **forms,
        ),
        status,
    )


# What the candidate's staff changes name by id ("cohort 12", "store 3"), and where their names are.
NAMED_IN_HISTORY: dict[str, tuple[str, type[Cohort] | type[Store]]] = {
    "cohorts": ("cohort", Cohort),
    "stores": ("store", Store),
}


def _named_in_history(candidate_id: int) -> dict[str, dict[str, str]]:
    """Names of the cohorts and stores the candidate's staff changes name, by id as written there."""
    details = db.session.scalars(
        sa.select(AuditEvent.detail).where(
            AuditEvent.object_type == "candidate",
            AuditEvent.object_id == candidate_id,
            sa.or_(*(AuditEvent.action.like(f"{word}.%") for word, _model in NAMED_IN_HISTORY.values())),
        )
    ).all()
    named = {}
    for key, (word, model) in NAMED_IN_HISTORY.items():
        ids = {int(match) for detail in details for match in re.findall(rf"\b{word} (\d+)", detail or "")}
        rows = db.session.execute(sa.select(model.id, model.name).where(model.id.in_(ids)))
        named[key] = {str(id_): name for id_, name in rows}
    return named


def _add_form(stages: Sequence[Stage], formdata=None) -> AddCandidateForm:
    form = AddCandidateForm(formdata=formdata)
    form.owner.choices = owner_choices()
    form.cohort.choices = [("", "—"), *_cohort_choices()]
    form.stage.choices = _stage_choices(stages)
    if formdata is None:
        form.owner.data = str(current_user.id)
        form.cohort.data = ""
        form.stage.data = stages[0].id if stages else None
    return form


@bp.route("/candidates/new", methods=["GET", "POST"])
@login_required
def add_candidate_page():
    """Add a person who accepted an offer; someone already here is found by phone or email."""
    now = utcnow()
    stages = _pipeline()
    form = _add_form(stages, formdata=request.form if request.method == "POST" else None)
    if request.method == "GET" or not form.validate():
        return render_template("hr/candidate_new.html", form=form, now=now), 200 if request.method == "GET" else 422
    try:
        candidate = add_candidate(
            name=form.name.data or "",
            phone=form.phone.data,
            email=form.email.data,
            first_stage=next(stage for stage in stages if stage.id == form.stage.data),
            actor=current_user,
            now=now,
            reached_at=_utc_from_form(form.reached_at.data),
            owner_id=int(form.owner.data) if form.owner.data else None,
            cohort_id=int(form.cohort.data) if form.cohort.data else None,
            position=form.position.data or "",
            site=form.site.data or "",
            source_channel=form.source_channel.data or "",
        )
    except DuplicateCandidate as duplicate:
        db.session.rollback()
        visible = db.session.scalar(visible_candidate(current_user, duplicate.existing_id, now)) is not None
        return render_template("hr/candidate_new.html", form=form, now=now, duplicate=duplicate, visible=visible), 409
    except (CandidateError, StageError) as error:
        db.session.rollback()
        (form[error.field] if isinstance(error, CandidateError) else form.stage).errors = [str(error)]
        return render_template("hr/candidate_new.html", form=form, now=now), 422
    return _back_to_page(candidate.id)


@bp.get("/candidates/<int:candidate_id>")
@login_required
def candidate_page(candidate_id: int):
    """Everything about one candidate on one page; each list pages on its own."""
    now = utcnow()
    return _render(_candidate_or_404(candidate_id, now), now)


@bp.post("/candidates/<int:candidate_id>/stage")
@login_required
def move_stage(candidate_id: int):
    """Move the candidate to a stage (now or back-dated), checked against the pipeline."""
    now = utcnow()
    candidate = _candidate_or_404(candidate_id, now)
    stages = _pipeline()
    form = _stage_form(candidate, stages, formdata=request.form)
    if not form.validate():
        return _render(candidate, now, 422, move=form)
    stage = next(stage for stage in stages if stage.id == form.stage.data)
    try:
        move_to_stage(
            candidate,
            stage,
            actor=current_user,
            now=now,
            reached_at=_utc_from_form(form.reached_at.data),
            note=form.note.data or "",
            cohort_id=int(form.cohort.data) if form.cohort.data else None,
        )
    except StageError as error:
        return _refused(candidate_id, now, form.stage, error, move=form)
    return _back_to_page(candidate_id)


@bp.post("/candidates/<int:candidate_id>/profile")
@login_required
def edit_candidate_profile(candidate_id: int):
    """HR correct or complete the profile: contact details (checked for duplicates), owner, tags."""
    now = utcnow()
    candidate = _candidate_or_404(candidate_id, now)
    form = _profile_form(candidate, formdata=request.form)
    if not form.validate():
        return _render(candidate, now, 422, profile=form)
    try:
        update_profile(
            candidate,
            actor=current_user,
            now=now,
            name=form.name.data or "",
            phone=form.phone.data or None,
            email=form.email.data or None,
            position=form.position.data or "",
            site=form.site.data or "",
            source_channel=form.source_channel.data or "",
            district=form.district.data or "",
            owner_id=int(form.owner.data) if form.owner.data else None,
            tags=parse_tags(form.tags.data or ""),
        )
    except DuplicateCandidate as duplicate:
        db.session.rollback()
        visible = db.session.scalar(visible_candidate(current_user, duplicate.existing_id, now)) is not None
        return _render(
            _candidate_or_404(candidate_id, now), now, 409, duplicate=(duplicate.existing_id, visible), profile=form
        )
    except CandidateError as error:
        return _refused(candidate_id, now, form[error.field], error, profile=form)
    db.session.commit()
    # Given to a colleague: no longer this user's to see.
    if db.session.scalar(visible_candidate(current_user, candidate_id, now)) is None:
        return redirect(url_for("hr.candidates"), 303)
    return _back_to_page(candidate_id, _anchor="profile-title")


@bp.post("/candidates/<int:candidate_id>/store")
@login_required
def assign_candidate_store(candidate_id: int):
    """The store the candidate joins after training (or none), if it has a place for them."""
    now = utcnow()
    candidate = _candidate_or_404(candidate_id, now)
    form = _store_form(candidate, db.session.execute(stores_for(candidate)).all(), formdata=request.form)
    if not form.validate():
        return _render(candidate, now, 422, store=form)
    try:
        store_id = int(form.store.data) if form.store.data else None
        assign_store(candidate, store_id, actor_id=current_user.id, now=now)
    except StoreError as error:
        return _refused(candidate_id, now, form.store, error, store=form)
    return _back_to_page(candidate_id, _anchor="store-title")


@bp.post("/candidates/<int:candidate_id>/notes")
@login_required
def add_candidate_note(candidate_id: int):
    """An internal note: what HR learned that the next colleague should know."""
    now = utcnow()
    candidate = _candidate_or_404(candidate_id, now)
    form = NoteForm(formdata=request.form, prefix="note")
    if not form.validate():
        return _render(candidate, now, 422, note=form)
    try:
        add_note(candidate, form.body.data or "", actor=current_user, now=now)
    except CandidateError as error:
        return _refused(candidate_id, now, form[error.field], error, note=form)
    return _back_to_page(candidate_id, _anchor="notes-title")


@bp.post("/candidates/<int:candidate_id>/contacts")
@login_required
@htmx_aware
def log_candidate_contact(candidate_id: int):
    """A call, a message or a meeting outside Keepwarm, from the candidate's page or a queue row (htmx)."""
    now = utcnow()
    candidate = _candidate_or_404(candidate_id, now)
    form = contact_form(candidate_id, formdata=request.form)
    error = None
    if form.validate():
        try:
            log_contact(
                candidate,
                channel=form.channel.data or "",
                outcome=form.outcome.data or "",
                actor=current_user,
                now=now,
                contacted_at=_utc_from_form(form.contacted_at.data),
                note=form.note.data or "",
            )
        except ContactError as failure:
            db.session.rollback()
            error = str(failure)
            form.contacted_at.errors = [error]
    else:
        error = "; ".join(str(e) for field in form for e in field.errors)
    if htmx_request():
        if error is None:
            db.session.commit()
        return queue_row_answer(candidate_id, error=error, status=422 if error else 200, contact_form=form)
    if error is not None:
        return _render(_candidate_or_404(candidate_id, now), now, 422, contact=form)
    return _back_to_page(candidate_id, _anchor="contacts-title")


@bp.post("/candidates/<int:candidate_id>/links/revoke")
@login_required
def revoke_candidate_links(candidate_id: int):
    """Stop every link of this candidate; a new one can be issued at any time."""
    now = utcnow()
    candidate = _candidate_or_404(candidate_id, now)
    revoke_all_links(candidate, actor_id=current_user.id, now=now)
    rescan_candidate(candidate.id, now)  # an unopened link that is gone is no longer a reason to worry
    return _back_to_page(candidate_id, _anchor="links-title")


@bp.post("/candidates/<int:candidate_id>/messages/link")
@login_required
def send_candidate_link(candidate_id: int):
    """Send the candidate their page's link through the outbox (the message gets its own link when it goes)."""
    channels = BY_SMS_FIRST if request.form.get("first") == Channel.SMS else BY_EMAIL_FIRST
    return _send_by_hand(
        candidate_id, lambda candidate, **common: send_link_by_hand(candidate, channels=channels, **common)
    )


@bp.post("/candidates/<int:candidate_id>/messages/note")
@login_required
def send_candidate_note(candidate_id: int):
    """Write the candidate a message (by email), with their page's link below it if HR ask for it."""
    text, with_link = request.form.get("text", ""), bool(request.form.get("with_link"))
    return _send_by_hand(
        candidate_id,
        lambda candidate, **common: send_note_by_hand(candidate, text=text, with_link=with_link, **common),
        message_text=text,
    )


def _send_by_hand(candidate_id: int, send, message_text: str = ""):
    """Queue what HR sent by hand, once per form (its ``request`` nonce), and wake the sender; a refusal
    shows the page again with what was typed."""
    now = utcnow()
    candidate = _candidate_or_404(candidate_id, now)
    request_key = request.form.get("request", "")
    if not is_request_key(request_key):
        return _render(candidate, now, 400, message_error=_("The form expired. Try again."), message_text=message_text)
    try:
        send(
            candidate,
            actor_id=current_user.id,
            request_key=request_key,
            urgent=bool(request.form.get("urgent")),
            now=now,
        )
    except OutboxError as refusal:
        return _render(candidate, now, 409, message_error=str(refusal), message_text=message_text)
    answer = _back_to_page(candidate_id, _anchor="messages-title")  # commits
    wake_sender()
    return answer


@bp.post("/candidates/<int:candidate_id>/started")
@login_required
def mark_candidate_started(candidate_id: int):
    """The candidate started work."""
    now = utcnow()
    try:
        mark_started(_candidate_or_404(candidate_id, now), actor=current_user, now=now)
    except LeavingError:
        db.session.rollback()  # started or left already (a second tab): the page shows which
    return _back_to_page(candidate_id)


@bp.post("/candidates/<int:candidate_id>/left")
@login_required
def mark_candidate_left(candidate_id: int):
    """The candidate left: how, why, and when to contact them again (the talent pool)."""
    now = utcnow()
    candidate = _candidate_or_404(candidate_id, now)
    form = _leave_form(formdata=request.form)
    if not form.validate():
        return _render(candidate, now, 422, leave=form)
    try:
        mark_left(
            candidate,
            kind=form.kind.data,
            reason_id=int(form.reason.data),
            actor=current_user,
            now=now,
            recontact_on=form.recontact_on.data,
            note=form.note.data or "",
        )
    except LeavingError as error:
        return _refused(candidate_id, now, form.kind, error, leave=form)
    return _back_to_page(candidate_id)


@bp.post("/candidates/<int:candidate_id>/reactivate")
@login_required
def reactivate_candidate(candidate_id: int):
    """Back from the talent pool, at a chosen stage."""
    now = utcnow()
    candidate = _candidate_or_404(candidate_id, now)
    stages = _pipeline()
    form = _reactivate_form(candidate, stages, formdata=request.form)
    if not form.validate():
        return _render(candidate, now, 422, reactivate=form)
    stage = next(stage for stage in stages if stage.id == form.stage.data)
    try:
        reactivate(candidate, stage, actor=current_user, now=now, note=form.note.data or "")
    except (LeavingError, StageError) as error:
        return _refused(candidate_id, now, form.stage, error, reactivate=form)
    return _back_to_page(candidate_id)


@bp.get("/talent-pool")
@login_required
def talent_pool():
    """People who left with a date to contact them again, soonest first."""
    pagination = db.paginate(talent_pool_query(current_user), page=page_arg(), per_page=PER_PAGE, error_out=False)
    return render_template("hr/talent_pool.html", pagination=pagination)


# What the candidate asked (services.threads): HR answer a question, accept or decline a request.


def _thread_context(candidate: Candidate, thread_page, answer_refused: "AnswerRefused | None") -> dict:
    """The "Questions and requests" section: what waits for an answer, oldest first, with what HR may grant
    (cohorts; stores, those of the district the candidate named first), and ``thread_page`` of the thread."""
    waiting = db.session.scalars(thread_of(candidate.id).where(ThreadMessage.state == AskState.WAITING)).all()
    return {
        "waiting_asks": list(reversed(waiting)),
        "ask_cohorts": _cohort_choices() if any(a.topic == Topic.ANOTHER_DATE for a in waiting) else [],
        "ask_stores": {
            a.id: [
                (str(row.Store.id), _store_label(row)) for row in db.session.execute(stores_for(candidate, a.district))
            ]
            for a in waiting
            if a.topic == Topic.STORE_TOO_FAR
        },
        "thread_page": thread_page,
        "answer_refused": answer_refused,
        "body_max": BODY_MAX,
    }


@dataclass
class AnswerRefused:
    """An answer that was refused: to which question or request, with which button, why, and what was typed."""

    ask_id: int
    action: str
    error: str
    field: str | None
    typed: dict


def _ask_or_404(ask_id: int) -> ThreadMessage:
    """A question or request of a candidate the user may see (deny by default: 404 like a missing one)."""
    visible = visible_candidates(current_user).with_only_columns(Candidate.id)
    asked = db.session.scalars(
        sa.select(ThreadMessage).where(ThreadMessage.id == ask_id, ThreadMessage.candidate_id.in_(visible))
    ).first()
    if asked is None or not asked.from_candidate:
        abort(404)
    return asked


def _answer(ask_id: int, action: str, settle):
    """Run one answer (``settle(asked, now)``): commit and back to the page, or the page with why it was refused."""
    now = utcnow()
    asked = _ask_or_404(ask_id)
    candidate_id, refused, status = asked.candidate_id, None, 200
    try:
        settle(asked, now)
    except ThreadError as error:
        db.session.rollback()
        refused = AnswerRefused(ask_id, action, str(error), error.field, request.form.to_dict())
        status = 422 if error.field else 409  # what was typed, or the state it met (answered already)
    else:
        db.session.commit()
        wake_sender()
    if htmx_request():  # the section again, in place
        candidate = _candidate_or_404(candidate_id, now)
        show_page_of("hr.candidate_page", candidate_id=candidate_id)  # its pager pages the candidate's page
        thread_page = db.paginate(thread_of(candidate_id), page=page_arg("thread"), per_page=PER_PAGE, error_out=False)
        context = _thread_context(candidate, thread_page, refused)
        return render_template("hr/_thread.html", candidate=candidate, now=now, **context), status
    if refused is not None:
        return _render(_candidate_or_404(candidate_id, now), now, status, answer_refused=refused)
    return redirect(url_for("hr.candidate_page", candidate_id=candidate_id, _anchor="thread-title"), 303)


@bp.post("/asks/<int:ask_id>/answer")
@login_required
@htmx_aware
def answer_ask(ask_id: int):
    """Answer a candidate's question: on their page at once, and to them as an essential message."""
    return _answer(
        ask_id,
        "answer",
        lambda asked, now: answer_question(asked, current_user, request.form.get("body"), now=now),
    )


@bp.post("/asks/<int:ask_id>/accept")
@login_required
@htmx_aware
def accept_ask(ask_id: int):
    """Grant a request: move them to the chosen cohort, or give them the chosen store; they are told."""
    return _answer(
        ask_id,
        "accept",
        lambda asked, now: accept_request(
            asked,
            current_user,
            cohort_id=id_arg("cohort", request.form),
            store_id=id_arg("store", request.form),
            body=request.form.get("body"),
            now=now,
        ),
    )


@bp.post("/asks/<int:ask_id>/decline")
@login_required
@htmx_aware
def decline_ask(ask_id: int):
    """Turn a request down, with a reply they read on their page and receive."""
    return _answer(
        ask_id,
        "decline",
        lambda asked, now: decline_request(asked, current_user, request.form.get("body"), now=now),
    )
