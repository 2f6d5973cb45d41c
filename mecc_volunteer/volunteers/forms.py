"""Volunteer forms. Validators hold format rules only; booking rules live in services."""

from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField

from mecc_volunteer.forms import choices_for, options
from mecc_volunteer.instrument import CURRENT
from mecc_volunteer.models import Survey
from mecc_volunteer.validation import (
    CleanText,
    EmailAddress,
    Length,
    OneOf,
    Required,
    UKPhone,
    normalise_text,
    parse_date_parts,
)
from mecc_volunteer.volunteers.services import RegistrationDetails


def label_for(field) -> str | None:
    """The label of the chosen option, for Check your answers."""
    return next((choice.label for choice in field.choices if choice.value == field.data), None)


SCALE_0_10 = options((n, str(n)) for n in range(11))

OUTSIDE_OXFORDSHIRE = "outside"

AGE_BANDS = options(
    [
        ("under-25", "Under 25"),
        ("25-34", "25 to 34"),
        ("35-44", "35 to 44"),
        ("45-54", "45 to 54"),
        ("55-64", "55 to 64"),
        ("65-plus", "65 or over"),
        ("prefer-not", "Prefer not to say"),
    ]
)
GENDERS = options(
    [
        ("woman", "Woman"),
        ("man", "Man"),
        ("another-way", "In another way"),
        ("prefer-not", "Prefer not to say"),
    ]
)
ETHNIC_GROUPS = options(
    [
        ("white", "White"),
        ("mixed", "Mixed or multiple ethnic groups"),
        ("asian", "Asian or Asian British"),
        ("black", "Black, Black British, Caribbean or African"),
        ("other", "Another ethnic group"),
        ("prefer-not", "Prefer not to say"),
    ]
)
DISABILITY = options([("yes", "Yes"), ("no", "No"), ("prefer-not", "Prefer not to say")])

# The order of fields is the order of the error summary.
REGISTRATION_FIELDS = [
    "name",
    "email",
    "phone",
    "organisation",
    "organisation_other",
    "role",
    "district",
    "baseline_confidence",
    "baseline_knowledge",
    "age_band",
    "gender",
    "ethnic_group",
    "disability",
    "privacy_acknowledged",
    "followup_consent",
]


def _text(**kw):
    return StringField(filters=[normalise_text], **kw)


BASELINE = {q.key: q for q in CURRENT.for_survey(Survey.BASELINE)}


class RegistrationForm(FlaskForm):
    # The baseline questions' wording, hints and scale come from the instrument (SPEC 6), keyed by question key.
    baseline_questions = BASELINE

    name = _text(validators=[Required("Enter your full name"), CleanText("Full name"), Length("Full name", 100)])
    email = _text(
        validators=[
            Required("Enter your email address"),
            CleanText("Email address"),
            Length("Email address", 254),
            EmailAddress(),
        ]
    )
    phone = _text(validators=[CleanText("Phone number"), Length("Phone number", 30), UKPhone()])
    organisation = SelectField(
        validate_choice=False,
        validators=[Required("Select your organisation"), OneOf("Select your organisation from the list")],
    )
    organisation_other = _text(validators=[CleanText("Organisation name"), Length("Organisation name", 100)])
    role = _text(validators=[Required("Enter your role"), CleanText("Role"), Length("Role", 100)])
    district = RadioField(
        validate_choice=False,
        validators=[Required("Select the area you work or volunteer in"), OneOf("Select an area from the list")],
    )
    baseline_confidence = RadioField(
        choices=choices_for(BASELINE["confidence"]),
        validate_choice=False,
        validators=[
            Required("Select how confident you feel, from 0 to 10"),
            OneOf("Select a number from 0 to 10"),
        ],
    )
    baseline_knowledge = RadioField(
        choices=choices_for(BASELINE["knowledge"]),
        validate_choice=False,
        validators=[
            Required("Select how well you know where to signpost people, from 0 to 10"),
            OneOf("Select a number from 0 to 10"),
        ],
    )
    age_band = RadioField(choices=AGE_BANDS, validate_choice=False, validators=[OneOf("Select an age group")])
    gender = RadioField(choices=GENDERS, validate_choice=False, validators=[OneOf("Select an option")])
    ethnic_group = RadioField(choices=ETHNIC_GROUPS, validate_choice=False, validators=[OneOf("Select an option")])
    disability = RadioField(choices=DISABILITY, validate_choice=False, validators=[OneOf("Select an option")])
    privacy_acknowledged = BooleanField(
        validators=[Required("Confirm that you have read the privacy notice")], false_values=("", "false", "0")
    )
    followup_consent = BooleanField(false_values=("", "false", "0"))

    def __init__(self, *args, organisations=(), districts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.other_organisation_ids = {str(o.id) for o in organisations if o.is_other}
        self.organisation.choices = options((o.id, o.name) for o in organisations)
        self.district.choices = options(
            [(d.id, d.name) for d in districts] + [(OUTSIDE_OXFORDSHIRE, "Outside Oxfordshire, or not sure")]
        )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.organisation.data in self.other_organisation_ids and not self.organisation_other.data:
            if not self.organisation_other.errors:
                self.organisation_other.errors = ["Enter the name of your organisation"]
            valid = False
        return valid

    def details(self) -> RegistrationDetails:
        """The answers as the registration service takes them. A question this form does not ask (a coordinator's
        form has no baseline or equality questions) is None: nothing is stored for it."""

        def answer(name: str) -> str | None:
            field = self._fields.get(name)
            return (field.data or None) if field is not None else None

        def number(name: str) -> int | None:
            value = answer(name)
            return int(value) if value is not None else None

        district = self.district.data
        return RegistrationDetails(
            name=self.name.data,
            email=self.email.data,
            phone=self.phone.data,
            organisation_id=int(self.organisation.data),
            organisation_other=self.organisation_other.data or None,
            role=self.role.data,
            district_id=None if district == OUTSIDE_OXFORDSHIRE else int(district),
            baseline_confidence=number("baseline_confidence"),
            baseline_knowledge=number("baseline_knowledge"),
            age_band=answer("age_band"),
            gender=answer("gender"),
            ethnic_group=answer("ethnic_group"),
            disability=answer("disability"),
            privacy_acknowledged=bool(self.privacy_acknowledged.data),
            followup_consent=bool(answer("followup_consent")),
        )


class LostLinkForm(FlaskForm):
    email = _text(
        validators=[
            Required("Enter your email address"),
            CleanText("Email address"),
            Length("Email address", 254),
            EmailAddress(),
        ]
    )


class MoveForm(FlaskForm):
    training_session = RadioField(
        validate_choice=False,
        validators=[Required("Select the session you want to move to"), OneOf("Select a session from the list")],
    )

    def __init__(self, *args, sessions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.training_session.choices = options((s.training_session.id, "") for s in sessions)


class ElearningForm(FlaskForm):
    """The date the e-learning was completed (GOV.UK date input) and the volunteer's own declaration."""

    WHAT = "the date you completed the e-learning"

    completed_day = _text(validators=[Length("Day", 2)])
    completed_month = _text(validators=[Length("Month", 2)])
    completed_year = _text(validators=[Length("Year", 4)])
    declaration = BooleanField(
        validators=[Required("Confirm that you have completed the MECC e-learning")], false_values=("", "false", "0")
    )

    def __init__(self, *args, today=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self._completed_on: date | None = None

    @property
    def completed_on(self) -> date:
        """The date entered, once validate() has passed."""
        if self._completed_on is None:
            raise RuntimeError("ElearningForm.completed_on is set by a successful validate()")
        return self._completed_on

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        completed_on, problem = parse_date_parts(
            self.completed_day.data, self.completed_month.data, self.completed_year.data, what=self.WHAT
        )
        if completed_on is not None:  # else the problem says what is missing or wrong
            if self.today is not None and completed_on > self.today:
                problem = "The date you completed the e-learning must be today or in the past"
            elif completed_on.year < 2000:
                problem = "The date you completed the e-learning must be a real date"
        if problem:
            self.completed_day.errors = [problem, *self.completed_day.errors]
            return False
        self._completed_on = completed_on
        return valid
