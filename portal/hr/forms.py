"""Back-office forms (Flask-WTF: validation and CSRF in one place)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, PasswordField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class SnoozeForm(FlaskForm):
    until = DateField(_l("Snooze until"), validators=[DataRequired()])


# How a closed flag's outcome reads (portal.models.flags.OUTCOMES are the stored values).
OUTCOME_LABELS = {
    "reached_by_phone": _l("Reached by phone"),
    "reassured": _l("Candidate reassured"),
    "rescheduled": _l("Rescheduled"),
    "withdrew": _l("Candidate withdrew"),
    "no_answer": _l("No answer"),
}


class ResolveForm(FlaskForm):
    outcome = SelectField(_l("What happened"), choices=[SelectChoice(v, l) for v, l in OUTCOME_LABELS.items()],
                          validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])
