"""Back-office pages: candidates and their links."""

import segno
import sqlalchemy as sa
from flask import abort, render_template, request
from flask_login import current_user, login_required
from markupsafe import Markup

from portal.extensions import db
from portal.hr import bp
from portal.hr.queries import candidates_list, visible_candidates
from portal.models import Candidate
from portal.services.audit import record_audit
from portal.services.links import issue_link, public_link_url

CANDIDATES_PER_PAGE = 25


def get_candidate_or_404(candidate_id: int) -> Candidate:
    """A candidate the current user may see; anything else is 404, never 403 (no existence leak)."""
    candidate = db.session.scalars(
        visible_candidates(current_user).where(Candidate.id == candidate_id)
    ).first()
    if candidate is None:
        abort(404)
    return candidate


@bp.get("/")
@login_required
def candidates():
    """Read-only, paginated list of the candidates this user looks after."""
    search = request.args.get("q", "").strip()[:100]
    pagination = db.paginate(candidates_list(current_user, search), page=request.args.get("page", 1, type=int),
                             per_page=CANDIDATES_PER_PAGE, error_out=False)
    return render_template("hr/candidates.html", pagination=pagination, search=search)


@bp.post("/candidates/<int:candidate_id>/link")
@login_required
def issue_candidate_link(candidate_id: int):
    """Issue a new link (revoking the earlier ones) and show it once, with a QR code."""
    candidate = get_candidate_or_404(candidate_id)
    link, token = issue_link(candidate, "qr", issued_by_id=current_user.id, revoke_others=True)
    record_audit("link.issue", actor_user_id=current_user.id, object_type="candidate", object_id=candidate.id,
                 detail=f"link {link.id}, earlier links revoked")
    db.session.commit()
    url = public_link_url(token)
    qr_svg = Markup(segno.make(url, error="m").svg_inline(scale=4, omitsize=True))
    return render_template("hr/link_issued.html", candidate=candidate, url=url, qr_svg=qr_svg, link=link)
