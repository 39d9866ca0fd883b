"""Back-office forms (Flask-WTF: validation and CSRF in one place)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.2; stubs lag
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional

from portal.hr.wording import CONTACT_CHANNEL_CHOICES, CONTACT_OUTCOME_CHOICES, OUTCOME_CHOICES
from portal.services.candidates import MAX_TAG_LENGTH
from portal.services.outbox import NOTE_MAX_CHARACTERS, is_request_key


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class SnoozeForm(FlaskForm):
    # InputRequired, not DataRequired: a date that does not parse says so, instead of "required".
    until = DateField(_l("Snooze until"), validators=[InputRequired()])


class ResolveForm(FlaskForm):
    outcome = SelectField(
        _l("What happened"),
        choices=[SelectChoice(value, label) for value, label in OUTCOME_CHOICES],
        validators=[DataRequired()],
    )
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


class LeaveForm(FlaskForm):
    """Choices are filled per request (hr.candidate): the kinds of leaving, the reasons not retired."""

    kind = SelectField(_l("How they left"), validators=[DataRequired()])
    reason = SelectField(_l("Reason"), validators=[DataRequired()])
    recontact_on = DateField(_l("Contact again on"), validators=[Optional()])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


class ReactivateForm(FlaskForm):
    stage = SelectField(_l("Back at stage"), coerce=int)
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


class MoveStageForm(FlaskForm):
    """Choices are filled per request (hr.candidate): stages of the pipeline, cohorts to choose from."""

    stage = SelectField(_l("Stage"), coerce=int)  # a choice is always made: the next stage is preselected
    # Empty: now. The organisation's local time; the stage service refuses the future.
    reached_at = DateTimeLocalField(_l("Reached at"), validators=[Optional()])
    cohort = SelectField(_l("Training cohort"), validate_choice=True)
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


class _ProfileFields(FlaskForm):
    """A candidate's profile as HR type it, adding someone or editing them; the owner's choices are filled per
    request (hr.candidate.owner_choices)."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    phone = StringField(_l("Phone"), validators=[Length(max=40)])
    email = EmailField(_l("Email"), validators=[Optional(), Email(), Length(max=254)])
    position = StringField(_l("Position"), validators=[Length(max=120)])
    site = StringField(_l("Site or store"), validators=[Length(max=120)])
    source_channel = StringField(_l("Source"), validators=[Length(max=60)])
    owner = SelectField(_l("Owner"))


class AddCandidateForm(_ProfileFields):
    """Cohort and stage choices are filled per request (hr.candidate)."""

    cohort = SelectField(_l("Training cohort"))
    stage = SelectField(_l("Stage"), coerce=int)
    reached_at = DateTimeLocalField(_l("Reached at"), validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if not (self.phone.data or "").strip() and not (self.email.data or "").strip():
            self.phone.errors = [*self.phone.errors, _l("A phone number or an email, so that HR can reach them.")]
            valid = False
        return valid


class ContactForm(FlaskForm):
    """Two clicks: the channel (the phone is preselected), then the outcome, which is the submit button."""

    channel = RadioField(
        _l("How"), choices=[SelectChoice(value, label) for value, label in CONTACT_CHANNEL_CHOICES], default="phone"
    )
    outcome = SelectField(
        _l("What came of it"),
        choices=[SelectChoice(value, label) for value, label in CONTACT_OUTCOME_CHOICES],
        validators=[DataRequired()],
    )
    # Empty: now. The organisation's local time; the contact service refuses the future.
    contacted_at = DateTimeLocalField(_l("When"), validators=[Optional()])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


class ProfileForm(_ProfileFields):
    # Where they live: HR see the stores of their district first (services.stores.stores_for).
    district = StringField(_l("District"), validators=[Length(max=60)])
    tags = StringField(_l("Tags"), validators=[Length(max=400)], description=_l("Separated by commas"))


class StoreForm(FlaskForm):
    """The store a hire joins after training; its choices (every store, grouped) are filled per request
    (hr.candidate). An empty choice: none."""

    store = SelectField(_l("Store after training"))


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Internal note"), validators=[DataRequired(), Length(max=4000)])


class CandidateListForm(FlaskForm):
    """The candidates list's filters, read from the query string (a GET form: no CSRF token, nothing changes).

    Choices of stage, cohort and owner are filled per request (hr.views); a value that is not one of them,
    or a date that does not parse, is reported beside its field and that filter is left out.
    """

    class Meta:
        csrf = False

    q = StringField(_l("Name, phone or email"), validators=[Length(max=100)], default="")
    stage = SelectField(_l("Stage"), default="")
    cohort = SelectField(_l("Cohort"), default="")
    owner = SelectField(_l("Owner"), default="")
    tier = SelectField(_l("Risk tier"), default="")
    flags = SelectField(_l("Flags"), default="")
    status = SelectField(_l("Status"), default="")
    site = StringField(_l("Site or store"), validators=[Length(max=120)], default="")
    position = StringField(_l("Position"), validators=[Length(max=120)], default="")
    source = StringField(_l("Source"), validators=[Length(max=60)], default="")
    seen_from = DateField(_l("Last visit from"), validators=[Optional()])
    seen_to = DateField(_l("Last visit until"), validators=[Optional()])
    never_seen = BooleanField(_l("Never visited"))
    contact_due = BooleanField(_l("Contact due"))
    sort = SelectField(_l("Sort by"), default="last_visit")
    per = SelectField(_l("Per page"), default="25")


class BulkForm(FlaskForm):
    """One action on the ticked candidates (or every one on the page): the button pressed says which.

    Owner, cohort and stage choices are filled per request (hr.views), by the same rules as one candidate's page.
    """

    ids = SelectMultipleField(coerce=int, validate_choice=False)
    page_ids = SelectMultipleField(coerce=int, validate_choice=False)
    whole_page = BooleanField(_l("Every candidate on this page"))
    action = SelectField(
        choices=[SelectChoice(action) for action in ("tag", "owner", "cohort", "stage", "link", "note")]
    )
    # Names this form when it sends messages: sent twice (a refresh), it queues each message once.
    request = HiddenField()
    text = TextAreaField(_l("Message (by email)"), validators=[Length(max=NOTE_MAX_CHARACTERS)])
    with_link = BooleanField(_l("Add a link to their page below it"), default=True)
    tag = StringField(_l("Tag"), validators=[Length(max=MAX_TAG_LENGTH)])
    # Checked only for the action they belong to (validate): the other buttons leave them as they are.
    owner = SelectField(_l("Owner"), validate_choice=False)
    cohort = SelectField(_l("Training cohort"), validate_choice=False)
    stage = SelectField(_l("Stage"), validate_choice=False)
    next = HiddenField()

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.action.data == "note" and not (self.text.data or "").strip():
            self.text.errors = [*self.text.errors, _l("Write the message first.")]
            valid = False
        if self.action.data in ("link", "note") and not is_request_key(self.request.data):
            self.request.errors = [*self.request.errors, _l("The form expired. Try again.")]
            valid = False
        if self.action.data == "tag" and not (self.tag.data or "").strip():
            self.tag.errors = [*self.tag.errors, _l("Type the tag to add.")]
            valid = False
        for name in ("owner", "cohort", "stage"):
            field = self[name]
            if self.action.data != name:
                continue
            if not field.data:
                field.errors = [*field.errors, _l("Choose one.")]
                valid = False
            elif field.data not in {str(choice[0]) for choice in field.choices or []}:
                field.errors = [*field.errors, field.gettext("Not a valid choice.")]
                valid = False
        return valid
