"""Candidates arrive (HR add them) and change their own profile."""

from datetime import datetime

import phonenumbers
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.i18n import LOCALES
from portal.models import Candidate, PortalLink, Stage, User
from portal.services.audit import record_on_candidate
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
    """A candidate cannot be added as given; the message says why, and nothing changed."""


class DuplicateCandidate(CandidateError):
    """Somebody with this phone number or email is already here: ``existing_id`` names them."""

    def __init__(self, message, existing_id: int):
        super().__init__(message)
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


def find_duplicate(phone: str | None, email: str | None) -> int | None:
    """The id of a candidate with this (normalised) phone number or this email, whoever may see them."""
    conditions = []
    if phone:
        conditions.append(Candidate.phone == phone)
    if email:
        conditions.append(Candidate.email == email.lower())
    if not conditions:
        return None
    return db.session.scalar(sa.select(Candidate.id).where(sa.or_(*conditions)).order_by(Candidate.id).limit(1))


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
    phone = normalise_phone(phone) if phone else None
    email = email.strip().lower() if email else None
    existing = find_duplicate(phone, email)
    if existing is not None:
        raise DuplicateCandidate(_l("Somebody with this phone number or email is already here."), existing)
    reached_at = reached_at or now
    check_reachable(first_stage, reached_at=reached_at, now=now, cohort_id=cohort_id)
    candidate = Candidate(
        name=name.strip(), phone=phone, email=email, owner_id=owner_id, cohort_id=cohort_id, created_at=now, **profile
    )
    db.session.add(candidate)
    db.session.flush()
    # Where they join the pipeline is where they are: the stages before it are behind them.
    advance_stage(candidate, first_stage, now=reached_at, actor_id=actor.id, note="")
    record_on_candidate("candidate.add", candidate.id, actor_user_id=actor.id, detail=f"at {first_stage.key}")
    rescan_candidate(candidate.id, now)
    return candidate
