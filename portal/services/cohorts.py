"""Training cohorts and who is in them: the one assignment service (every screen, bulk action and import places
people through ``place_in_cohort``), the waitlist, and changes to a cohort that its members are told of.

A place is taken by an active or started member (someone who left frees theirs). Capacity holds under
concurrency: each placement first writes the cohort's row (a no-op UPDATE), which makes a second placement
into the same cohort wait for the first to commit on PostgreSQL (a row lock) and on SQLite (the write lock)
before it counts the members.
"""

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.i18n import localized
from portal.models import Candidate, Cohort, CohortSession, PastMembership, Stage, StageEvent, WaitlistEntry
from portal.models.candidates import Status
from portal.models.cohorts import CohortStatus, is_web_url
from portal.models.outbox import LINK_PLACEHOLDER, MessageKind
from portal.services import dialect_insert
from portal.services.audit import record_audit, record_on_candidate
from portal.services.automations import cohort_moved, drop_queued_about, message_context
from portal.services.cohort_series import days_of, shift_curriculum
from portal.services.outbox import BY_EMAIL_FIRST, message_locale, queue_message
from portal.services.scan import rescan_candidate
from portal.services.worktime import WorkCalendar, organisation_date, organisation_zone


class CohortError(ValueError):
    """The candidate cannot join (or leave) the cohort, or the cohort cannot be saved as given; the message
    says why (``field``: which input, when a form's), and nothing changed."""

    def __init__(self, message, field: str | None = None):
        super().__init__(message)
        self.field = field


class Placement(StrEnum):
    UNCHANGED = "unchanged"  # already there (or already waiting for it)
    PLACED = "placed"
    WAITLISTED = "waitlisted"  # full: they wait, in the order they passed, and keep what they had
    REMOVED = "removed"


TAKES_A_PLACE = (Status.ACTIVE, Status.STARTED)
DROPPED_DATES_CHANGED = "the training dates changed"
DROPPED_CANCELLED = "the training was cancelled"


def members_count(cohort_id: int) -> int:
    count = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Candidate)
        .where(Candidate.cohort_id == cohort_id, Candidate.status.in_(TAKES_A_PLACE))
    )
    return count or 0


def hold_cohort(cohort_id: int) -> None:
    """Hold the cohort's row until commit, so that counting its members and taking a place is one step."""
    db.session.execute(
        sa.update(Cohort)
        .where(Cohort.id == cohort_id)
        .values(capacity=Cohort.capacity)
        .execution_options(synchronize_session=False)
    )


def places_left(cohort: Cohort) -> int:
    return max(cohort.capacity - members_count(cohort.id), 0)


def place_in_cohort(
    candidate: Candidate,
    cohort_id: int | None,
    *,
    actor_id: int | None,
    now: datetime,
    waitlist: bool = True,
    note: str = "",
) -> Placement:
    """Put a candidate in a training cohort, move them to another, or (None) take them out of theirs.

    A full cohort puts them on its waitlist (``waitlist=False``: refused instead), where they keep the cohort
    they had. Refused with a CohortError, nothing changed: a candidate who started or left, a cohort that does
    not exist, was cancelled or has ended, and taking the cohort away from someone whose stage needs one.
    A move is on their history (the audit trail), resets their confirmation, raises their calendar's
    revision, drops what was queued about the old cohort and tells them (essential, with HR's ``note`` if any);
    the place they left goes to the first on that cohort's waitlist.
    """
    if cohort_id == candidate.cohort_id:
        return Placement.UNCHANGED
    if candidate.status != Status.ACTIVE:
        raise CohortError(_l("This candidate has started or left: re-activate them first."))
    if cohort_id is None:
        stage = db.session.get(Stage, candidate.current_stage_id) if candidate.current_stage_id else None
        if stage is not None and stage.needs_cohort:
            raise CohortError(_l("%(stage)s needs a training cohort: choose one.", stage=localized(stage, "label")))
        _move(candidate, None, actor_id=actor_id, now=now)
        return Placement.REMOVED
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None:
        raise CohortError(_l("That training cohort does not exist."))
    check_open(cohort, now)
    hold_cohort(cohort_id)
    if members_count(cohort_id) >= cohort.capacity:
        if not waitlist or cohort.starts_on <= organisation_date(now):  # once it runs, nobody waits for it
            raise full(cohort)
        return _wait_for(candidate, cohort, actor_id=actor_id, now=now)
    _move(candidate, cohort, actor_id=actor_id, now=now, note=note)
    return Placement.PLACED


def full(cohort: Cohort) -> CohortError:
    return CohortError(
        _l("%(cohort)s is full (%(capacity)d places): choose another.", cohort=cohort.name, capacity=cohort.capacity)
    )


def check_open(cohort: Cohort, now: datetime) -> None:
    """Refused (CohortError) when nobody can join ``cohort`` any more."""
    if cohort.cancelled:
        raise CohortError(_l("%(cohort)s was cancelled: choose another.", cohort=cohort.name))
    if cohort.ends_on < organisation_date(now):
        raise CohortError(_l("%(cohort)s has ended: choose another.", cohort=cohort.name))


def _move(
    candidate: Candidate, cohort: Cohort | None, *, actor_id: int | None, now: datetime, why: str = "", note: str = ""
) -> None:
    old_cohort_id = candidate.cohort_id
    candidate.cohort_id = cohort.id if cohort else None
    candidate.attendance_confirmed_at = None
    candidate.calendar_revision += 1
    db.session.flush()
    db.session.expire(candidate, ["cohort"])  # the relationship follows the new id when next read
    if old_cohort_id is not None:
        _remember_past(candidate.id, old_cohort_id, now)
    if cohort is not None:
        db.session.execute(
            sa.delete(PastMembership).where(
                PastMembership.candidate_id == candidate.id, PastMembership.cohort_id == cohort.id
            )
        )
        db.session.execute(sa.delete(WaitlistEntry).where(WaitlistEntry.candidate_id == candidate.id))
    detail = f"cohort {cohort.id}" if cohort else "cohort cleared"
    record_on_candidate("cohort.assign", candidate.id, actor_user_id=actor_id, detail=detail + why)
    rescan_candidate(candidate.id, now)
    cohort_moved(candidate, old_cohort_id, now=now)
    if cohort is not None and (old_cohort_id is not None or why):
        _tell(candidate, cohort, Change.FREED if why else Change.MOVED, now, note)
    if old_cohort_id is not None:
        fill_from_waitlist(old_cohort_id, now=now)


def _remember_past(candidate_id: int, cohort_id: int, now: datetime) -> None:
    statement = dialect_insert(PastMembership).values(candidate_id=candidate_id, cohort_id=cohort_id, left_at=now)
    db.session.execute(
        statement.on_conflict_do_update(index_elements=["candidate_id", "cohort_id"], set_={"left_at": now})
    )


def passed_at(candidate: Candidate) -> datetime:
    """When they passed: the first stage they reached (their row's creation if none is recorded)."""
    first = db.session.scalar(
        sa.select(sa.func.min(StageEvent.reached_at)).where(StageEvent.candidate_id == candidate.id)
    )
    return first or candidate.created_at


def _wait_for(candidate: Candidate, cohort: Cohort, *, actor_id: int | None, now: datetime) -> Placement:
    """On ``cohort``'s waitlist (one waitlist at a time: an earlier one is left)."""
    waiting = db.session.scalar(sa.select(WaitlistEntry.cohort_id).where(WaitlistEntry.candidate_id == candidate.id))
    if waiting == cohort.id:
        return Placement.UNCHANGED
    db.session.execute(sa.delete(WaitlistEntry).where(WaitlistEntry.candidate_id == candidate.id))
    db.session.add(
        WaitlistEntry(cohort_id=cohort.id, candidate_id=candidate.id, passed_at=passed_at(candidate), added_at=now)
    )
    db.session.flush()
    record_on_candidate("cohort.waitlist", candidate.id, actor_user_id=actor_id, detail=f"cohort {cohort.id}")
    return Placement.WAITLISTED


def leave_waitlist(candidate_id: int) -> None:
    db.session.execute(sa.delete(WaitlistEntry).where(WaitlistEntry.candidate_id == candidate_id))


def fill_from_waitlist(cohort_id: int, *, now: datetime) -> int:
    """Free places of ``cohort_id`` go to the first on its waitlist (by the date they passed), each told; how
    many got one. Someone on it who no longer waits (started, left) loses their entry. Not once it has begun."""
    cohort = db.session.get_one(Cohort, cohort_id)
    if cohort.cancelled or cohort.starts_on <= organisation_date(now):  # once it runs, a place stays free
        return 0
    hold_cohort(cohort_id)
    placed = 0
    while members_count(cohort_id) < cohort.capacity:
        entry = db.session.scalars(
            sa.select(WaitlistEntry)
            .where(WaitlistEntry.cohort_id == cohort_id)
            .order_by(WaitlistEntry.passed_at, WaitlistEntry.id)
            .limit(1)
        ).first()
        if entry is None:
            break
        candidate = db.session.get_one(Candidate, entry.candidate_id)
        db.session.delete(entry)
        db.session.flush()
        if candidate.status != Status.ACTIVE:
            continue
        _move(candidate, cohort, actor_id=None, now=now, why=": a place freed on the waitlist")
        placed += 1
    return placed


def keep_place_if_free(candidate: Candidate, *, now: datetime) -> None:
    """Someone back from the talent pool keeps the cohort they left only while it is open and has a place for
    them; otherwise they are out of it (HR choose one as they move them to a stage that needs it)."""
    if candidate.cohort_id is None:
        return
    cohort = db.session.get_one(Cohort, candidate.cohort_id)
    hold_cohort(cohort.id)
    open_ = not cohort.cancelled and cohort.ends_on >= organisation_date(now)
    if not open_ or members_count(cohort.id) > cohort.capacity:  # they count again, as of the flush above
        _remember_past(candidate.id, cohort.id, now)
        candidate.cohort_id = None
        candidate.calendar_revision += 1
        db.session.flush()
        db.session.expire(candidate, ["cohort"])
        record_on_candidate("cohort.assign", candidate.id, actor_user_id=None, detail="cohort cleared: no place left")


def waitlist_of(cohort_id: int) -> sa.Select:
    """Who waits for ``cohort_id``, first first."""
    return (
        sa.select(WaitlistEntry, Candidate)
        .join(Candidate, Candidate.id == WaitlistEntry.candidate_id)
        .where(WaitlistEntry.cohort_id == cohort_id)
        .order_by(WaitlistEntry.passed_at, WaitlistEntry.id)
    )


# --------------------------------------------------------------------------------------------
# Changes to a cohort, told to its members: essential messages, keyed so that each change is told once.
# --------------------------------------------------------------------------------------------


class Change(StrEnum):
    MOVED = "moved"  # the candidate is now in this cohort, moved from another
    FREED = "freed"  # a place freed and they got it from the waitlist
    CHANGED = "changed"  # the cohort's dates or place changed
    CANCELLED = "cancelled"


def _tell(candidate: Candidate, cohort: Cohort, change: Change, now: datetime, note: str = "") -> None:
    """The essential message for ``change``, in the candidate's language, once per change (the key names the
    candidate's and the cohort's revisions); ``note``: HR's own words, below ours."""
    locale = message_locale(candidate)
    context = message_context(candidate, locale, cohort_id=cohort.id)  # the automations' words for the same things
    with force_locale(locale):
        place, address = context["cohort_place"], context["cohort_address"]
        words = {
            "name": candidate.name,
            "cohort": context["cohort_name"],
            "start": context["cohort_start"],
            "place": place,
            "where": gettext("%(place)s (%(address)s)", place=place, address=address) if address else place,
        }
        subject, body = _words(change, words)
        if note:
            body += "\n\n" + note
        body += (
            "\n"
            + LINK_PLACEHOLDER
            + "\n\n"
            + gettext("Questions? Call HR: %(hotline)s", hotline=current_app.config["HR_HOTLINE"])
        )
    queue_message(
        candidate,
        kind=MessageKind.TRAINING_CHANGE,
        key=f"training:{change}:{candidate.id}:{cohort.id}:{cohort.revision}:{candidate.calendar_revision}",
        subject=subject,
        body=body,
        now=now,
        channels=BY_EMAIL_FIRST,
        sms_template=current_app.config["SMS_TEMPLATE_TRAINING_CHANGE"],
        sms_params={"name": candidate.name, "start": words["start"], "place": words["place"], "link": LINK_PLACEHOLDER},
        cohort_id=cohort.id,
    )


def _words(change: Change, words: dict[str, str]) -> tuple[str, str]:
    if change == Change.CANCELLED:
        return gettext("Your training was cancelled"), gettext(
            "Hello %(name)s,\n\n%(cohort)s, which was to start on %(start)s, is cancelled. We are sorry: HR will "
            "contact you about a new date, and your page shows it as soon as it is set.",
            **words,
        )
    if change == Change.FREED:
        return gettext("A place in training is yours"), gettext(
            "Hello %(name)s,\n\nA place freed up in %(cohort)s and it is yours: it starts on %(start)s at "
            '%(where)s. Your page has the schedule; tap "I will be there" to confirm.',
            **words,
        )
    if change == Change.MOVED:
        return gettext("Your training has changed"), gettext(
            "Hello %(name)s,\n\nYou are now in %(cohort)s: it starts on %(start)s at %(where)s. "
            'Your page has the new schedule; tap "I will be there" to confirm.',
            **words,
        )
    return gettext("Your training has changed"), gettext(
        "Hello %(name)s,\n\n%(cohort)s now starts on %(start)s at %(where)s. Your page has the new "
        'schedule; tap "I will be there" to confirm.',
        **words,
    )


def _members(cohort_id: int) -> list[Candidate]:
    return list(
        db.session.scalars(
            sa.select(Candidate)
            .where(Candidate.cohort_id == cohort_id, Candidate.status == Status.ACTIVE)
            .order_by(Candidate.id)
        )
    )


def changed_for_members(cohort: Cohort, *, actor_id: int | None, now: datetime, what: str) -> int:
    """The cohort's dates or place changed (``what``: for the history): each member's confirmation is asked
    again, the change is on their history, what was queued for the old dates is dropped, and they are told.
    The revision was raised by the caller. How many were told."""
    members = _members(cohort.id)
    ids = [member.id for member in members]
    drop_queued_about(cohort.id, ids, DROPPED_DATES_CHANGED)
    for member in members:
        member.attendance_confirmed_at = None
        record_on_candidate("cohort.changed", member.id, actor_user_id=actor_id, detail=f"cohort {cohort.id}: {what}")
        _tell(member, cohort, Change.CHANGED, now)
        rescan_candidate(member.id, now)
    db.session.flush()
    return len(members)


def cancel_cohort(cohort: Cohort, *, actor_id: int, now: datetime) -> int:
    """Nobody will be trained in ``cohort``: members stay in it (HR move them to another; their pages and
    calendars say cancelled), each is told and has it on their history; its waitlist is emptied; its queued
    messages are dropped. How many members were told. Cancelling twice does nothing."""
    if cohort.cancelled:
        return 0
    cohort.status, cohort.cancelled_at = CohortStatus.CANCELLED, now
    cohort.revision += 1
    db.session.execute(sa.delete(WaitlistEntry).where(WaitlistEntry.cohort_id == cohort.id))
    members = _members(cohort.id)
    drop_queued_about(cohort.id, [member.id for member in members], DROPPED_CANCELLED)
    for member in members:
        member.attendance_confirmed_at = None
        record_on_candidate("cohort.cancelled", member.id, actor_user_id=actor_id, detail=f"cohort {cohort.id}")
        _tell(member, cohort, Change.CANCELLED, now)
        rescan_candidate(member.id, now)  # nothing to confirm any more
    db.session.flush()
    record_audit(
        "cohort.cancel",
        actor_user_id=actor_id,
        object_type="cohort",
        object_id=cohort.id,
        detail=f"{len(members)} told",
    )
    return len(members)


def confirm_attendance(candidate_id: int, *, now: datetime) -> bool:
    """The candidate tapped "I will be there" for their cohort; False when there was nothing to confirm (no
    cohort, a cancelled one, confirmed already)."""
    candidate = db.session.get_one(Candidate, candidate_id)
    if candidate.cohort_id is None or candidate.attendance_confirmed_at is not None:
        return False
    cohort = db.session.get_one(Cohort, candidate.cohort_id)
    if cohort.cancelled or candidate.status != Status.ACTIVE:
        return False
    candidate.attendance_confirmed_at = now
    db.session.flush()
    record_on_candidate("cohort.confirmed", candidate.id, actor_user_id=None, detail=f"cohort {cohort.id}")
    rescan_candidate(candidate.id, now)
    return True


def move_sessions(cohort: Cohort, old_days: list[date], new_days: list[date], now: datetime) -> int:
    """The curriculum onto the cohort's new dates: each session on the same working day of the cohort (its
    third on the third), at its clock times; those beyond its new last day are removed (calendars are told).
    How many were removed."""
    sessions = db.session.scalars(
        sa.select(CohortSession).where(CohortSession.cohort_id == cohort.id, CohortSession.removed_at.is_(None))
    ).all()
    moved, _left_out = shift_curriculum(sessions, old_days, new_days, organisation_zone())
    kept = set()
    for shifted in moved:
        shifted.session.starts_at, shifted.session.ends_at = shifted.starts_at, shifted.ends_at
        kept.add(shifted.session.id)
    removed = [session for session in sessions if session.id not in kept]
    for session in removed:
        session.removed_at = now
    return len(removed)


# --------------------------------------------------------------------------------------------
# Admins plan cohorts.
# --------------------------------------------------------------------------------------------

COHORT_FIELDS = (
    "name", "site", "place_zh", "place_en", "address", "map_url",
    "starts_on", "ends_on", "capacity", "bring_zh", "bring_en",
)  # fmt: skip
MAX_CAPACITY = 2000
MAX_DAYS = 90  # from the first day to the last
LENGTHS = {
    "name": 120, "site": 120, "place_zh": 200, "place_en": 200, "address": 300, "map_url": 500,
    "bring_zh": 2000, "bring_en": 2000,
}  # fmt: skip
DATE_FIELDS = ("starts_on", "ends_on")
TEXT_FIELDS = ("name", "site", "place_zh", "place_en", "address", "map_url", "bring_zh", "bring_en")
PLACE_FIELDS = ("site", "place_zh", "place_en", "address", "map_url")


def check_cohort(values: dict, cohort: Cohort | None) -> dict:
    """``values`` cleaned (text trimmed), or a CohortError naming the first field that is wrong."""
    values = {key: value.strip() if isinstance(value, str) else value for key, value in values.items()}
    for field in TEXT_FIELDS:
        values[field] = values.get(field) or ""  # an optional text left out is empty, not NULL
    if not values["name"]:
        raise CohortError(_l("Give the cohort a name."), "name")
    if not values.get("place_zh"):
        raise CohortError(_l("Say where the training takes place."), "place_zh")
    for field, most in LENGTHS.items():
        if len(values.get(field) or "") > most:
            raise CohortError(_l("At most %(count)d characters.", count=most), field)
    if values.get("map_url") and not is_web_url(values["map_url"]):
        raise CohortError(_l("A map link must be an http:// or https:// address."), "map_url")
    starts_on, ends_on = values.get("starts_on"), values.get("ends_on")
    if not isinstance(starts_on, date):
        raise CohortError(_l("Give the first day."), "starts_on")
    if not isinstance(ends_on, date):
        raise CohortError(_l("Give the last day."), "ends_on")
    if ends_on < starts_on:
        raise CohortError(_l("The last day cannot come before the first."), "ends_on")
    if (ends_on - starts_on).days >= MAX_DAYS:
        raise CohortError(_l("A cohort lasts at most %(days)d days.", days=MAX_DAYS), "ends_on")
    capacity = values.get("capacity")
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= MAX_CAPACITY:
        raise CohortError(_l("Places must be a whole number from 1 to %(most)d.", most=MAX_CAPACITY), "capacity")
    if cohort is not None:
        members = members_count(cohort.id)
        if capacity < members:
            raise CohortError(
                _l("%(count)d people are in it already: places cannot be fewer.", count=members), "capacity"
            )
    return values


def save_cohort(cohort: Cohort | None, values: dict, *, actor_id: int, now: datetime) -> Cohort:
    """Create a cohort (None) or change one. A change of its dates or place raises its revision (calendars
    update), moves its sessions with the first day, keeps the old start to say "moved from", and tells every
    member (services: changed_for_members); more places go to the waitlist. A cancelled cohort stays as it is."""
    if cohort is not None and cohort.cancelled:
        raise CohortError(_l("A cancelled cohort cannot be changed."))
    values = check_cohort({field: values.get(field) for field in COHORT_FIELDS}, cohort)
    values["map_url"] = values["map_url"] or None
    if cohort is None:
        cohort = Cohort(**values)
        db.session.add(cohort)
        db.session.flush()
        record_audit("cohort.create", actor_user_id=actor_id, object_type="cohort", object_id=cohort.id)
        return cohort
    hold_cohort(cohort.id)
    dates_changed = any(getattr(cohort, field) != values[field] for field in DATE_FIELDS)
    place_changed = any((getattr(cohort, field) or "") != (values[field] or "") for field in PLACE_FIELDS)
    more_places = values["capacity"] > cohort.capacity
    old_start = cohort.starts_on
    calendar = WorkCalendar(now)
    old_days = days_of(calendar, cohort.starts_on, cohort.ends_on)
    changed = [field for field in COHORT_FIELDS if getattr(cohort, field) != values[field]]
    for field, value in values.items():
        setattr(cohort, field, value)
    if values["starts_on"] != old_start:
        cohort.previous_starts_on = old_start
    if dates_changed:
        move_sessions(cohort, old_days, days_of(calendar, cohort.starts_on, cohort.ends_on), now)
    if dates_changed or place_changed:
        cohort.revision += 1
    db.session.flush()
    if changed:
        record_audit(
            "cohort.edit", actor_user_id=actor_id, object_type="cohort", object_id=cohort.id, detail=" ".join(changed)
        )
    if dates_changed or place_changed:
        what = " and ".join(word for word, yes in (("dates", dates_changed), ("place", place_changed)) if yes)
        changed_for_members(cohort, actor_id=actor_id, now=now, what=what)
    if more_places:
        fill_from_waitlist(cohort.id, now=now)
    return cohort
