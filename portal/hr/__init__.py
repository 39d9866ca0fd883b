"""The HR back-office."""

from flask import Blueprint

bp = Blueprint("hr", __name__)


@bp.context_processor
def back_office_context():
    """The logged-in user (only back-office templates need it) and the wording of rules and outcomes."""
    from flask_login import current_user

    from portal.hr.forms import OUTCOME_LABELS
    from portal.models.flags import CLEARED

    def outcome_choices():
        return OUTCOME_LABELS.items()

    def outcome_label(value):
        from flask_babel import gettext as _

        return _("cleared by itself") if value == CLEARED else OUTCOME_LABELS.get(value, value)

    def open_flag_total():
        from portal.extensions import db
        from portal.hr.queries import open_flag_count
        from portal.models import utcnow

        return db.session.scalar(open_flag_count(current_user, utcnow()))

    return {"current_user": current_user, "rule_label": rule_label, "outcome_choices": outcome_choices,
            "outcome_label": outcome_label, "open_flag_total": open_flag_total, "tier_label": tier_label}


def tier_label(tier: str) -> str:
    """What a risk tier means."""
    from flask_babel import gettext as _

    return {"A": _("on track"), "B": _("watch"), "C": _("at risk"), "D": _("likely lost")}.get(tier, tier)


def rule_label(name: str) -> str:
    """A risk rule's name as HR read it."""
    from flask_babel import gettext as _

    return {
        "link_not_opened": _("Link not opened"),
        "gone_quiet": _("Gone quiet"),
        "training_notice_not_seen": _("Training notice not seen"),
        "company_side_overdue": _("Our step overdue"),
    }.get(name, name)

from portal.hr import auth, queue, views  # noqa: E402,F401  (routes register themselves on bp)
