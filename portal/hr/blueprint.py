"""The back-office blueprint and what every back-office template is given."""

from datetime import datetime

from flask import Blueprint, g
from flask_login import current_user

from portal.extensions import db
from portal.hr import wording
from portal.hr.queries import queue_count
from portal.models import utcnow
from portal.services.flags import snooze_range
from portal.services.worktime import organisation_date, year_confirmed

bp = Blueprint("hr", __name__)


def link_marker(candidate) -> str:
    """What a "new link" form remembers of the candidate's links when it was shown: the newest one's issue time."""
    return candidate.link_issued_at.isoformat() if candidate.link_issued_at else ""


def send_time_guessed(when: datetime) -> bool:
    """Whether a send time rests on a year of the work calendar that is not yet published (read once a page)."""
    year = organisation_date(when).year
    known = g.setdefault("calendar_guessed", {})
    if year not in known:
        known[year] = not year_confirmed(year)
    return known[year]


@bp.context_processor
def back_office_context() -> dict:
    """The logged-in user (only back-office templates need it), the navigation badge and the wording."""

    def queue_total() -> int:
        now = utcnow()
        return db.session.scalar(queue_count(current_user, now, organisation_date(now))) or 0

    return {
        "current_user": current_user,
        "queue_total": queue_total,
        "rule_label": wording.rule_label,
        # Translated once per page: the list shows a tier and its choices on every row.
        "tier_labels": wording.tier_labels(),
        "tier_meaning": wording.tier_meaning,
        "flag_reason": wording.flag_reason,
        "whose_turn": wording.whose_turn,
        "flag_badge": wording.flag_badge,
        "waited": wording.waited,
        "link_marker": link_marker,
        "event_kind_label": lambda kind: wording.label_of(wording.EVENT_KIND_LABELS, kind),
        "device_label": lambda device: wording.label_of(wording.DEVICE_LABELS, device),
        "link_channel_label": lambda channel: wording.label_of(wording.LINK_CHANNEL_LABELS, channel),
        "audit_action_label": lambda action: wording.label_of(wording.AUDIT_ACTION_LABELS, action),
        "audit_detail": wording.audit_detail,
        "message_reason": wording.message_reason,
        "send_time_guessed": send_time_guessed,
        "calendar_source_label": lambda source: wording.label_of(wording.CALENDAR_SOURCE_LABELS, source),
        "outbox_status_label": lambda status: wording.label_of(wording.OUTBOX_STATUS_LABELS, status),
        "severity_label": wording.severity_label,
        "outcome_label": wording.outcome_label,
        "left_kind_label": wording.left_kind_label,
        "contact_channel_label": wording.contact_channel_label,
        "contact_outcome_label": wording.contact_outcome_label,
        "outcome_choices": wording.OUTCOME_CHOICES,
        "contact_channel_choices": wording.CONTACT_CHANNEL_CHOICES,
        "contact_outcome_choices": wording.CONTACT_OUTCOME_CHOICES,
        "snooze_range": snooze_range(utcnow()),
        "severities": list(wording.SEVERITY_LABELS),
        "automation_when": wording.automation_when,
        "trigger_label": lambda trigger: wording.label_of(wording.TRIGGER_LABELS, trigger),
        "message_kind_label": lambda kind: wording.label_of(wording.MESSAGE_KIND_LABELS, kind),
        "weekday_labels": wording.WEEKDAY_LABELS,
    }
