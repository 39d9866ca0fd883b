"""The daily retention purge as a job."""

from portal.extensions import db
from portal.models import utcnow
from portal.services.retention import purge_engagement


def purge_job() -> int:
    """Delete engagement events older than the retention period."""
    deleted = purge_engagement(utcnow())
    db.session.commit()
    return deleted
