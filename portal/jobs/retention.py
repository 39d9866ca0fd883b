"""The daily retention purge as a job."""

from portal.extensions import db
from portal.models import utcnow
from portal.services.retention import purge_engagement, purge_import_uploads


def purge_job() -> int:
    """Delete engagement events older than the retention period, and uploads nobody imported within a day."""
    now = utcnow()
    deleted = purge_engagement(now)
    purge_import_uploads(now)
    db.session.commit()
    return deleted
