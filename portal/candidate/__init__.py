"""The candidate's token page: opened from a link, no password."""

from flask import Blueprint

bp = Blueprint("candidate", __name__)

from portal.candidate import views  # noqa: E402,F401  (routes register themselves on bp)
