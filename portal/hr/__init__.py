"""The HR back-office."""

from flask import Blueprint

bp = Blueprint("hr", __name__)


@bp.context_processor
def inject_current_user():
    """Only back-office templates need the logged-in user (see portal.extensions.login_manager)."""
    from flask_login import current_user

    return {"current_user": current_user}

from portal.hr import auth, views  # noqa: E402,F401  (routes register themselves on bp)
