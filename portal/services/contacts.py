"""Contacts HR make outside Keepwarm: logged, counted by the quiet rule, and setting the next one due."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.extensions import db
from portal.models import Candidate, Contact, User
from portal.models.candidates import Tier
from portal.models.contacts import ContactChannel, ContactOutcome
from portal.models.flags import derived_tier
from portal.services.audit import record_on_candidate
from portal.services.scan import rescan_candidate
from portal.services.worktime import organisation_zone


class ContactError(ValueError):
    """The contact cannot be logged; the message says why, and nothing changed."""


def cadence_days(tier: str) -> int:
    """Days from one contact to the next, by the tier the candidate had (settings CONTACT_EVERY_DAYS_A…D)."""
    return current_app.config[f"CONTACT_EVERY_DAYS_{tier}"]


def tier_now(candidate: Candidate, now: datetime) -> str:
    """The tier HR act on at ``now``: their override, else the one the open flags give."""
    return candidate.risk_tier_override or db.session.scalar(sa.select(derived_tier(candidate.id, now))) or Tier.A


def log_contact(
    candidate: Candidate,
    *,
    channel: str,
    outcome: str,
    actor: User,
    now: datetime,
    contacted_at: datetime | None = None,
    note: str = "",
) -> Contact:
    """HR log a call, a message or a meeting (now unless back-dated; never the future).

    A contact that reached the candidate counts as contact: the quiet rule reads the later of the last
    visit and the last reached contact, so the quiet flag closes at once and is raised again only when
    they have been quiet for its days from then. The next contact is due the contact's date plus the
    cadence of the tier the candidate had when it was logged; the newest contact decides.
    """
    if channel not in set(ContactChannel):
        raise ContactError(_l("Choose how you contacted them."))
    if outcome not in set(ContactOutcome):
        raise ContactError(_l("Choose what came of it."))
    contacted_at = contacted_at or now
    if contacted_at > now:
        raise ContactError(_l("A contact cannot be in the future."))
    tier = tier_now(candidate, now)
    newest = db.session.scalar(sa.select(sa.func.max(Contact.contacted_at)).where(Contact.candidate_id == candidate.id))
    contact = Contact(
        candidate_id=candidate.id,
        channel=channel,
        outcome=outcome,
        contacted_at=contacted_at,
        actor_id=actor.id,
        tier=tier,
        next_due_on=contacted_at.astimezone(organisation_zone()).date() + timedelta(days=cadence_days(tier)),
        note=note,
    )
    db.session.add(contact)
    if newest is None or contacted_at >= newest:
        candidate.next_contact_on = contact.next_due_on
    if ContactOutcome(outcome).reached and (
        candidate.last_reached_at is None or contacted_at > candidate.last_reached_at
    ):
        candidate.last_reached_at = contacted_at
    db.session.flush()
    record_on_candidate("contact.log", candidate.id, actor_user_id=actor.id, detail=f"{channel}: {outcome}")
    rescan_candidate(candidate.id, now)
    return contact
