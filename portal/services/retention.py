"""Deleting what we no longer need (R19)."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import EngagementEvent, ImportUpload
from portal.models.base import rows_affected


def purge_engagement(now: datetime) -> int:
    """Delete engagement events older than the retention period; returns how many."""
    cutoff = now - timedelta(days=current_app.config["ENGAGEMENT_RETENTION_DAYS"])
    return rows_affected(db.session.execute(sa.delete(EngagementEvent).where(EngagementEvent.occurred_at < cutoff)))


def purge_import_uploads(now: datetime) -> int:
    """Delete uploaded spreadsheets nobody imported within their day; returns how many."""
    return rows_affected(db.session.execute(sa.delete(ImportUpload).where(ImportUpload.expires_at <= now)))
