"""Admin screens at /admin/: the lists and settings admins keep (reasons so far), admins only."""

from portal.admin import reasons  # noqa: F401  (registers its routes on blueprint.bp)
from portal.admin.blueprint import bp

__all__ = ["bp"]
