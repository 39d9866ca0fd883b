"""All models, importable from one place (Alembic and the app both need every table)."""

from portal.models.audit import AuditEvent
from portal.models.automations import Automation
from portal.models.base import Base, utcnow
from portal.models.calendar import CalendarDay, CalendarYear
from portal.models.candidates import Candidate, CandidateNote, PortalLink, StageEvent
from portal.models.cohorts import CalendarFeed, Cohort, CohortSession, PastMembership, Store, WaitlistEntry
from portal.models.contacts import Contact
from portal.models.content import ChecklistCompletion, ChecklistItem, Story
from portal.models.engagement import EngagementEvent
from portal.models.flags import Flag
from portal.models.imports import ImportUpload
from portal.models.outbox import Outbox
from portal.models.pipeline import Stage
from portal.models.reasons import Reason
from portal.models.threads import ThreadMessage
from portal.models.users import User

__all__ = [
    "AuditEvent",
    "Automation",
    "Base",
    "CalendarDay",
    "CalendarFeed",
    "CalendarYear",
    "Candidate",
    "CandidateNote",
    "ChecklistCompletion",
    "ChecklistItem",
    "Cohort",
    "Contact",
    "CohortSession",
    "EngagementEvent",
    "Flag",
    "ImportUpload",
    "Outbox",
    "PastMembership",
    "PortalLink",
    "Reason",
    "Stage",
    "StageEvent",
    "Store",
    "Story",
    "ThreadMessage",
    "User",
    "WaitlistEntry",
    "utcnow",
]
