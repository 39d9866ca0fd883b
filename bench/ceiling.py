"""The stack ceiling for bench/run.py: the real app, its whole middleware stack, no database per request.

``GET /ceiling`` goes through everything ``/me`` goes through (session, CSRF, Talisman's headers,
Babel, compression, the candidate cookie's check) and renders the same template with the same
code, from one candidate's page data read once at start-up. What it cannot do is what the database
does: the look-up of the link, the page's reads, the engagement write and the commit. So /me's
ratio to it is the share of the page's cost that is ours to cut, and its ratio to hello what the
stack itself costs.

Served as ``ceiling:create_app()`` from bench/, with the same environment as the app.
"""

import sqlalchemy as sa
from flask import Flask, abort

from portal import create_app as create_portal_app
from portal.candidate.identity import current_link_id, remember_candidate_locale
from portal.candidate.queries import load_page
from portal.candidate.views import render_page
from portal.extensions import db
from portal.models import PortalLink, utcnow


def create_app() -> Flask:
    app = create_portal_app()
    with app.app_context():
        # One real candidate's page, held in memory: the first link that still works.
        now = utcnow()
        link_id = db.session.scalar(sa.select(PortalLink.id).where(PortalLink.works_at(now)).limit(1))
        found = load_page(link_id, now)
        if found is None:
            raise RuntimeError("the bench database holds no working link")
        candidate, data = found
        db.session.remove()

    @app.get("/ceiling")
    def ceiling():
        now = utcnow()
        if current_link_id(now) is None:  # the same cookie check as /me, without the database
            abort(404)
        remember_candidate_locale(candidate.locale)
        return render_page(candidate, data, now)

    return app
