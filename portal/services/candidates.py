"""Candidates arrive (HR add them), HR keep their profile, tags and notes, and candidates choose their language."""

from datetime import datetime

import phonenumbers
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.i18n import LOCALES
from portal.models import Candidate, CandidateNote, PortalLink, Stage, User
from portal.models.cohorts import one_line
from portal.services.audit import record_on_candidate
from portal.services.automations import queue_stage_entered
from portal.services.cohorts import CohortError, place_in_cohort
from portal.services.scan import rescan_candidate
from portal.services.stages import advance_stage, check_reachable

# Numbers typed without a country code are Chinese mobile or landline numbers.
DEFAULT_PHONE_REGION = "CN"


def set_preferred_locale(link_id: int, locale: str, *, now: datetime) -> bool:
    """Keep the language the candidate chose on their profile; False when the link no longer works."""
    if locale not in LOCALES:
        raise ValueError(locale)
    candidate_id = db.session.scalar(
        sa.select(PortalLink.candidate_id).where(PortalLink.id == link_id, PortalLink.works_at(now))
    )
    if candidate_id is None:
        return False
    db.session.get_one(Candidate, candidate_id).locale = locale
    db.session.flush()
    return True


class CandidateError(ValueError):
    """A candidate cannot be added or changed as given; the message says why, ``field`` which input, and
    nothing changed."""

    def __init__(self, message, field: str = "phone"):
        super().__init__(message)
        self.field = field


class DuplicateCandidate(CandidateError):
    """Somebody with this phone number or email is already here: ``existing_id`` names them."""

    def __init__(self, message, existing_id: int):
        super().__init__(message, "phone")
        self.existing_id = existing_id


def normalise_phone(raw: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """A phone number in E.164 (+8613900000000); a number without a country code is taken as ``region``'s."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        raise CandidateError(_l("This is not a phone number.")) from error
    if not phonenumbers.is_valid_number(number):
        raise CandidateError(_l("This is not a phone number."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_duplicate(phone: str | None, email: str | None, *, besides: int | None = None) -> int | None:
    """The id of a candidate with this (normalised) phone number or this email, whoever may see them
    (``besides``: not this candidate)."""
    conditions = []
    if phone:
        conditions.append(Candidate.phone == phone)
    if email:
        conditions.append(Candidate.email == email.lower())
    if not conditions:
        return None
    query = sa.select(Candidate.id).where(sa.or_(*conditions)).order_by(Candidate.id).limit(1)
    if besides is not None:
        query = query.where(Candidate.id != besides)
    return db.session.scalar(query)


def check_owner(actor: User, owner_id: int | None) -> None:
    """HR may give a candidate to themselves or leave them unassigned; admins to any active staff member."""
    if owner_id is None or owner_id == actor.id:
        return
    owner = db.session.get(User, owner_id)
    if not actor.is_admin or owner is None or not owner.active:
        raise CandidateError(_l("You may take a candidate yourself or leave them unassigned."), "owner")


def _contact_details(phone: str | None, email: str | None) -> tuple[str | None, str | None]:
    """Phone in E.164, email in lower case: how both are stored, and how duplicates are found."""
    return (normalise_phone(phone) if phone else None), (email.strip().lower() if email else None)


def add_candidate(
    *,
    name: str,
    phone: str | None,
    email: str | None,
    first_stage: Stage,
    actor: User,
    now: datetime,
    reached_at: datetime | None = None,
    owner_id: int | None = None,
    cohort_id: int | None = None,
    **profile: str,
) -> Candidate:
    """HR add a person who accepted an offer, at the stage they are at (when they reached it: now
    unless back-dated). Refused, with nothing changed: a phone number that is not one, someone with
    the same phone or email already here (DuplicateCandidate), and (StageError) a time in the future
    or a stage that needs a cohort without one. ``profile``: position, site, source_channel."""
    phone, email = _contact_details(phone, email)
    check_owner(actor, owner_id)
    existing = find_duplicate(phone, email)
    if existing is not None:
        raise DuplicateCandidate(_l("Somebody with this phone number or email is already here."), existing)
    reached_at = reached_at or now
    check_reachable(first_stage, reached_at=reached_at, now=now, cohort_id=cohort_id)
    candidate = Candidate(name=name.strip(), phone=phone, email=email, owner_id=owner_id, created_at=now, **profile)
    db.session.add(candidate)
    db.session.flush()
    # Where they join the pipeline is where they are: the stages before it are behind them.
    advance_stage(candidate, first_stage, now=reached_at, actor_id=actor.id, note="")
    if cohort_id is not None:
        try:  # a place, or a refusal: someone added at a stage that needs a cohort needs a place in one
            place_in_cohort(candidate, cohort_id, actor_id=actor.id, now=now, waitlist=False)
        except CohortError as refusal:
            raise CandidateError(str(refusal), field="cohort") from refusal
    record_on_candidate("candidate.add", candidate.id, actor_user_id=actor.id, detail=f"at {first_stage.key}")
    rescan_candidate(candidate.id, now)
    queue_stage_entered([candidate.id], now=now, joined=True)
    return candidate


MAX_TAGS, MAX_TAG_LENGTH = 10, 30


def parse_tags(text: str) -> list[str]:
    """Tags as HR type them: separated by commas (either width) or new lines, trimmed, each once."""
    tags: list[str] = []
    for tag in text.replace("，", ",").replace("\n", ",").split(","):
        tag = " ".join(tag.split())
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise CandidateError(_l("At most %(count)s tags.", count=MAX_TAGS), "tags")
    if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        raise CandidateError(_l("A tag has at most %(count)s characters.", count=MAX_TAG_LENGTH), "tags")
    return tags


PROFILE_FIELDS = ("name", "phone", "email", "position", "site", "source_channel", "district", "owner_id", "tags")
MAX_DISTRICT_LENGTH = 60  # as a store's (models.cohorts.Store): HR see the stores of their district first


def update_profile(candidate: Candidate, *, actor: User | None, now: datetime, **changes) -> list[str]:
    """HR edit a candidate's profile (any of PROFILE_FIELDS); returns the names of the fields that changed.
    ``actor`` None: the command line (``flask import-candidates``), which may name any owner.

    Refused with a CandidateError, nothing changed: a phone number that is not one, no phone and no
    email left, an owner the actor may not choose, a district longer than a store's, or (DuplicateCandidate)
    the phone or email of someone else. The audit trail names the changed fields, never their values.
    """
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"not profile fields: {sorted(unknown)}")
    if "phone" in changes or "email" in changes:
        phone, email = _contact_details(changes.get("phone", candidate.phone), changes.get("email", candidate.email))
        if not phone and not email:
            raise CandidateError(_l("A phone number or an email, so that HR can reach them."))
        existing = find_duplicate(phone, email, besides=candidate.id)
        if existing is not None:
            raise DuplicateCandidate(_l("Somebody with this phone number or email is already here."), existing)
        changes["phone"], changes["email"] = phone, email
    if "owner_id" in changes and changes["owner_id"] != candidate.owner_id and actor is not None:
        check_owner(actor, changes["owner_id"])
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if not changes["name"]:
            raise CandidateError(_l("A name, please."), "name")
    if "district" in changes:
        changes["district"] = one_line(changes["district"] or "")  # compared with a store's, which is one line
        if len(changes["district"]) > MAX_DISTRICT_LENGTH:
            raise CandidateError(_l("At most %(count)d characters.", count=MAX_DISTRICT_LENGTH), "district")
    changed = [field for field, value in changes.items() if getattr(candidate, field) != value]
    for field in changed:
        setattr(candidate, field, changes[field])
    if changed:
        db.session.flush()
        record_on_candidate(
            "candidate.edit", candidate.id, actor_user_id=getattr(actor, "id", None), detail=", ".join(changed)
        )
    return changed


def add_note(candidate: Candidate, body: str, *, actor: User, now: datetime) -> CandidateNote:
    """An internal note about the candidate, kept as typed (pages escape it)."""
    body = body.strip()
    if not body:
        raise CandidateError(_l("The note is empty."), "body")
    note = CandidateNote(candidate_id=candidate.id, author_id=actor.id, written_at=now, body=body)
    db.session.add(note)
    db.session.flush()
    record_on_candidate("candidate.note", candidate.id, actor_user_id=actor.id, detail="")
    return note
