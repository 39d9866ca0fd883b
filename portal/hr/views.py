"""Back-office pages: candidates and their links."""

from collections import defaultdict

import segno
from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from portal.extensions import db
from portal.hr.blueprint import bp, link_marker
from portal.hr.queries import candidates_list, open_rules_by_candidate, visible_candidates
from portal.models import Candidate, utcnow
from portal.models.candidates import Channel, Tier
from portal.services.links import issue_link, public_link_url
from portal.services.tiers import override_tier
from portal.web import page_arg, safe_next

CANDIDATES_PER_PAGE = 25


def get_candidate_or_404(candidate_id: int) -> Candidate:
    """A candidate the current user may see; anything else is 404, never 403 (no existence leak)."""
    candidate = db.session.scalars(visible_candidates(current_user).where(Candidate.id == candidate_id)).first()
    if candidate is None:
        abort(404)
    return candidate


@bp.get("/")
@login_required
def candidates():
    """Read-only, paginated list of the candidates this user looks after."""
    search = request.args.get("q", "").strip()[:100]
    pagination = db.paginate(
        candidates_list(current_user, utcnow(), search), page=page_arg(), per_page=CANDIDATES_PER_PAGE, error_out=False
    )
    reasons = defaultdict(list)
    for candidate_id, rule in db.session.execute(open_rules_by_candidate([c.id for c in pagination.items])):
        reasons[candidate_id].append(rule)
    return render_template(
        "hr/candidates.html", pagination=pagination, search=search, reasons=reasons, tiers=list(Tier)
    )


@bp.post("/candidates/<int:candidate_id>/tier")
@login_required
def set_tier(candidate_id: int):
    """HR's override of the derived risk tier ("" clears it)."""
    candidate = get_candidate_or_404(candidate_id)
    tier = request.form.get("tier", "")
    if tier and tier not in set(Tier):
        abort(400)
    override_tier(candidate, tier or None, current_user, now=utcnow())
    db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("hr.candidates")), 303)


@bp.post("/candidates/<int:candidate_id>/link")
@login_required
def issue_candidate_link(candidate_id: int):
    """Issue a new link (revoking the earlier ones) and show it once, with a QR code."""
    candidate = get_candidate_or_404(candidate_id)
    # The form says which link it saw: a refreshed result page (the browser posts again) or a second tab
    # must not revoke the link just shown, which may already be on its way to the candidate.
    seen = request.form.get("issued_before")
    if seen is not None and seen != link_marker(candidate):
        return render_template("hr/link_issued.html", candidate=candidate, stale=True), 409
    link, token = issue_link(candidate, Channel.QR, issued_by_id=current_user.id, revoke_others=True, now=utcnow())
    db.session.commit()
    url = public_link_url(token)
    qr_svg = Markup(segno.make(url, error="m").svg_inline(scale=4, omitsize=True))
    return render_template("hr/link_issued.html", candidate=candidate, url=url, qr_svg=qr_svg, link=link)
