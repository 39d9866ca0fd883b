"""Admin screens at /admin/: what admins keep (reasons, the outbox, the work calendar), admins only."""

from portal.admin import automations, calendar, checklist, cohorts, outbox, reasons, stores  # noqa: F401  (register their routes on blueprint.bp)
from portal.admin.blueprint import bp

__all__ = ["bp"]
