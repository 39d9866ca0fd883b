"""Admin screens at /admin/: the lists and settings admins keep (reasons, the outbox), admins only."""

from portal.admin import outbox, reasons  # noqa: F401  (register their routes on blueprint.bp)
from portal.admin.blueprint import bp

__all__ = ["bp"]
