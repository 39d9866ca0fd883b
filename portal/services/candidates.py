"""Changes a candidate makes to their own profile."""

from datetime import datetime

import sqlalchemy as sa

from portal.extensions import db
from portal.i18n import LOCALES
from portal.models import Candidate, PortalLink


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
