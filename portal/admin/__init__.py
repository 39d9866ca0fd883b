"""Admin screens at /admin/: what admins keep (reasons, the outbox, the work calendar), admins only."""

from portal.admin import automations, calendar, checklist, outbox, reasons  # noqa: F401  (register their routes on blueprint.bp)
from portal.admin.blueprint import bp

__all__ = ["bp"]
