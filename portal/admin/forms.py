"""Admin forms (Flask-WTF: CSRF). The rules for a reason's labels live in portal.services.reasons."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField


class ReasonForm(FlaskForm):
    # No validators here: the service checks both labels (trimmed, required, length, taken) in one place.
    label_zh = StringField(_l("In Chinese"))
    label_en = StringField(_l("In English"))
