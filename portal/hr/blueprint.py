"""The back-office blueprint and what every back-office template is given."""

from flask import Blueprint
from flask_login import current_user

from portal.extensions import db
from portal.hr import wording
from portal.hr.queries import open_flag_count
from portal.models import utcnow
from portal.services.flags import snooze_range

bp = Blueprint("hr", __name__)


@bp.context_processor
def back_office_context() -> dict:
    """The logged-in user (only back-office templates need it), the navigation badge and the wording."""

    def open_flag_total() -> int:
        return db.session.scalar(open_flag_count(current_user, utcnow())) or 0

    return {
        "current_user": current_user,
        "open_flag_total": open_flag_total,
        "rule_label": wording.rule_label,
        "tier_label": wording.tier_label,
        "tier_meaning": wording.tier_meaning,
        "flag_reason": wording.flag_reason,
        "severity_label": wording.severity_label,
        "outcome_label": wording.outcome_label,
        "left_kind_label": wording.left_kind_label,
        "outcome_choices": wording.OUTCOME_CHOICES,
        "snooze_range": snooze_range(utcnow()),
        "severities": list(wording.SEVERITY_LABELS),
    }
