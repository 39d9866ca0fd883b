"""The candidate's token page: opened from a link, no password."""

from portal.candidate import views  # noqa: F401  (registers its routes on blueprint.bp)
from portal.candidate.blueprint import bp

__all__ = ["bp"]
