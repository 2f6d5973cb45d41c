"""The admin area's forms: format rules only (the rules about accounts, lists and settings live in services)."""

import re
from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField

from mecc_volunteer import settings
from mecc_volunteer.admin.services import RANGES, ReferenceList, column_length
from mecc_volunteer.auth.forms import EMAIL_RULES
from mecc_volunteer.forms import add_error, options
from mecc_volunteer.models import OrganisationType, Programme, StaffRole
from mecc_volunteer.validation import (
    CleanText,
    EmailAddress,
    Length,
    OneOf,
    Required,
    ValidationError,
    normalise_text,
)

ROLE_HINTS = {
    StaffRole.COORDINATOR.value: "Runs sessions: rosters, joining links, attendance, emails to volunteers",
    StaffRole.EVALUATOR.value: "Sees the pilot review and downloads the feedback (no names or contact details)",
    StaffRole.ADMIN.value: "Everything a coordinator and an evaluator can do, and this admin area",
}
ROLE_CHOICES = options((role.value, role.label) for role in StaffRole)


def _text(**kw):
    return StringField(filters=[normalise_text], **kw)


def _length(name: str) -> int:
    return column_length(Programme.__table__.c[name])


def _role_field(message: str) -> RadioField:
    return RadioField(choices=ROLE_CHOICES, validate_choice=False, validators=[Required(message), OneOf(message)])


class InviteStaffForm(FlaskForm):
    name = _text(validators=[Required("Enter their full name"), CleanText("Full name"), Length("Full name", 100)])
    email = _text(validators=[Required("Enter their email address"), *EMAIL_RULES])
    role = _role_field("Select what they will do")


class RoleForm(FlaskForm):
    role = _role_field("Select a role")


class NameForm(FlaskForm):
    """Add or rename an organisation type or an area."""

    name = _text()

    def __init__(self, *args, kind: ReferenceList, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind

    def validate_name(self, field):
        for rule in (
            Required(f"Enter the name of the {self.kind.noun}"),
            CleanText("The name"),
            Length("The name", self.kind.max_name_length),
        ):
            rule(self, field)


class OrganisationForm(NameForm):
    organisation_type = SelectField(
        validate_choice=False,
        validators=[Required("Select the type of organisation"), OneOf("Select a type from the list")],
    )

    def __init__(self, *args, types: list[OrganisationType], **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation_type.choices = options((t.id, t.name) for t in types)
        self.types = {str(t.id): t for t in types}

    @property
    def chosen_type(self) -> OrganisationType:
        """The type chosen, once validate() has passed."""
        return self.types[str(self.organisation_type.data)]


class MoveForm(FlaskForm):
    direction = HiddenField(validators=[Required("Choose to move it up or down")])

    def validate_direction(self, field):
        if field.data not in ("up", "down"):
            raise ValidationError("Choose to move it up or down")


# --- Programme settings ---------------------------------------------------------------------------------------

_HOST = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+")


def https_link_problem(url: str) -> str | None:
    """Why this is not a web address volunteers can be sent to, or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a port that is not a number raises ValueError here
    except ValueError:
        return "Enter a full web address, starting with https://"
    if parts.scheme.lower() != "https":
        return "The web address must start with https://"
    if not host or parts.username or parts.password or any(char.isspace() for char in url):
        return "Enter a full web address, like https://www.example.org/page"
    return None


def hosts_problem(hosts: tuple[str, ...]) -> str | None:
    if not hosts:
        return "Enter at least one meeting host, like teams.microsoft.com"
    for host in hosts:
        if len(host) > 253 or not _HOST.fullmatch(host):
            shown = host if len(host) <= 40 else host[:40] + "…"
            return f"“{shown}” is not a host name. Enter host names like zoom.us, one on each line"
    if len("\n".join(hosts)) > _length("joining_link_hosts"):
        return f"The meeting hosts must be {_length('joining_link_hosts')} characters or fewer in all"
    return None


def _number_field(name: str, label: str) -> StringField:
    low, high = RANGES[name]
    return _text(validators=[Required(f"Enter {label}"), _WholeNumber(label, low, high)])


class _WholeNumber:
    def __init__(self, label: str, low: int, high: int):
        self.label, self.low, self.high = label, low, high

    def __call__(self, form, field):
        text = field.data or ""
        if not (text.isascii() and text.isdigit() and len(text) <= 6 and self.low <= int(text) <= self.high):
            raise ValidationError(
                f"{self.label[0].upper()}{self.label[1:]} must be a whole number from {self.low} to {self.high}"
            )


def _setting_text(name: str, label: str, message: str, *rules):
    return _text(validators=[Required(message), CleanText(label), Length(label, _length(name)), *rules])


class SettingsForm(FlaskForm):
    service_name = _setting_text("service_name", "The service name", "Enter the service name")
    organisation_name = _setting_text("organisation_name", "The organisation name", "Enter the organisation's name")
    contact_email = _setting_text(
        "contact_email", "The contact email", "Enter the contact email address", EmailAddress()
    )
    elearning_url = _setting_text("elearning_url", "The e-learning link", "Enter the e-learning link")
    signpost_name = _setting_text(
        "signpost_name", "The signposting website's name", "Enter the signposting website's name"
    )
    signpost_url = _setting_text("signpost_url", "The signposting link", "Enter the signposting link")
    cutoff_days = _number_field("cutoff_days", "the cut-off in days")
    late_promotion_hours = _number_field("late_promotion_hours", "the late places window in hours")
    evaluation_open_days = _number_field("evaluation_open_days", "the number of days the survey is open")
    evaluation_reminder_days = _number_field("evaluation_reminder_days", "the number of days before the reminder")
    followup_after_weeks = _number_field("followup_after_weeks", "the number of weeks before the follow-up")
    joining_link_hosts = TextAreaField(
        filters=[normalise_text],
        validators=[
            Required("Enter at least one meeting host, like teams.microsoft.com"),
            CleanText("The meeting hosts", multiline=True),
            Length("The meeting hosts", 2000),
        ],
    )
    retention_months = _number_field("retention_months", "the number of months personal data is kept")
    privacy_notice_text = TextAreaField(
        filters=[normalise_text],
        validators=[CleanText("The privacy notice", multiline=True), Length("The privacy notice", 10_000)],
    )
    privacy_notice_version = _setting_text(
        "privacy_notice_version", "The version", "Enter the privacy notice's version"
    )
    disclosure_threshold = _number_field("disclosure_threshold", "the smallest group shown")

    def fill_from(self, current: settings.Settings) -> None:
        for name in settings.NAMES:
            value = getattr(current, name)
            if name == "joining_link_hosts":
                value = "\n".join(value)
            elif value is None:
                value = ""
            getattr(self, name).data = str(value)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for name in ("elearning_url", "signpost_url"):
            field = getattr(self, name)
            if field.data and not field.errors:
                problem = https_link_problem(field.data)
                if problem:
                    add_error(field, problem)
        if self.joining_link_hosts.data and not self.joining_link_hosts.errors:
            problem = hosts_problem(settings.hosts_from_text(self.joining_link_hosts.data))
            if problem:
                add_error(self.joining_link_hosts, problem)
        return valid and not any(field.errors for field in self)

    @property
    def values(self) -> dict:
        """The settings as entered, once validate() has passed."""
        values: dict = {}
        for name in settings.NAMES:
            data = getattr(self, name).data
            if name in RANGES:
                values[name] = int(data)
            elif name == "joining_link_hosts":
                values[name] = settings.hosts_from_text(data)
            elif name == "privacy_notice_text":
                values[name] = data or None
            else:
                values[name] = data
        return values
