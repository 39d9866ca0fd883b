"""The HR back-office."""

from flask import Blueprint

bp = Blueprint("hr", __name__)

from portal.hr import auth, views  # noqa: E402,F401  (routes register themselves on bp)
