"""The candidate's blueprint: the token page, opened from a link, no password."""

from flask import Blueprint

bp = Blueprint("candidate", __name__)
