"""The admin blueprint: admins only, inside the back-office's frame and session rules."""

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.extensions import login_manager
from portal.hr.auth import enforce_session_rules
from portal.hr.blueprint import back_office_context
from portal.web import htmx_request

bp = Blueprint("admin", __name__)

# The same idle and absolute session timeouts as every back-office page, checked first.
bp.before_request(enforce_session_rules)
# The templates extend hr/_layout.html: the same navigation, badge and wording.
bp.context_processor(back_office_context)


@bp.before_request
def admins_only():
    """Deny by default: every admin route, today's and tomorrow's, needs a signed-in admin."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # to the HR login and back (portal.hr.auth.to_login)
    if not current_user.is_admin:
        abort(403)
    return None


@bp.errorhandler(403)
def forbidden(_error):
    """A signed-in HR user on an admin page: say so, in the back-office's frame."""
    if htmx_request():
        return _("Only admins may do this."), 403
    return render_template("admin/forbidden.html"), 403


@bp.context_processor
def admin_context() -> dict:
    """The language switch comes back to this page, or to the list after a refused POST (portal.templating
    knows the HR and candidate sections only)."""

    def here() -> str:
        if request.method == "GET":
            return request.full_path.rstrip("?")
        if request.endpoint == "admin.retry_outbox_message":
            return url_for("admin.outbox")
        if request.endpoint == "admin.save_work_calendar":
            return url_for("admin.work_calendar", year=(request.view_args or {}).get("year"))
        if request.endpoint in ("admin.edit_automation", "admin.new_automation"):
            return request.path  # the form again, as it was shown
        if request.endpoint in ("admin.add_checklist_item", "admin.edit_checklist_item"):
            return url_for("admin.checklist")
        if request.endpoint in ("admin.add_store", "admin.edit_store"):
            return url_for("admin.stores")
        if request.endpoint in ("admin.new_cohort", "admin.cohort_series"):
            return request.path  # the form again, as it was shown
        cohort_id = (request.view_args or {}).get("cohort_id")
        if cohort_id is not None:  # the cohort's page, whichever of its forms was sent
            return url_for("admin.cohort", cohort_id=cohort_id)
        return url_for("admin.reasons")

    return {"here": here}
