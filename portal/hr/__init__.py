"""The HR back-office: login (auth), the follow-up queue (queue), candidates and links (views), one
candidate's page (candidate), training cohorts (cohorts), spreadsheet import (importing)."""

from portal.hr import auth, candidate, cohorts, importing, queue, views  # noqa: F401  (each registers its routes on blueprint.bp)
from portal.hr.blueprint import bp

__all__ = ["bp"]
