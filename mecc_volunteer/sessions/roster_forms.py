"""Roster forms: format rules only. Adding a volunteer reuses the public registration form's fields and
validators; the rules about places and bookings live in volunteers.services and sessions.roster."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField

from mecc_volunteer.forms import options
from mecc_volunteer.models import BookingStatus
from mecc_volunteer.sessions.roster import MAX_SEARCH_LENGTH
from mecc_volunteer.templating import format_session_time
from mecc_volunteer.validation import CleanText, Length, OneOf, Required, normalise_text
from mecc_volunteer.volunteers.forms import ElearningForm, MoveForm, RegistrationForm

ALL_STATUSES = "all"
# Beside the statuses in the roster's filter: the people booked who have not confirmed the e-learning.
ELEARNING_NOT_DONE = "elearning_not_done"
STATUS_CHOICES = options(
    [*((status.value, status.label) for status in BookingStatus), (ELEARNING_NOT_DONE, "E-learning not done")]
)


def _all_is_empty(value):
    """?status=all and ?status= both mean every status."""
    return "" if value == ALL_STATUSES else value


class RosterSearchForm(FlaskForm):
    """The roster's GET search form (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    q = StringField(filters=[normalise_text], validators=[CleanText("Search"), Length("Search", MAX_SEARCH_LENGTH)])
    status = SelectField(
        choices=STATUS_CHOICES,
        filters=[_all_is_empty],
        validate_choice=False,
        validators=[OneOf("Select a status from the list")],
    )

    @property
    def search(self) -> str:
        return "" if self.q.errors else (self.q.data or "")

    @property
    def booking_status(self) -> BookingStatus | None:
        if self.status.errors or not self.status.data or self.status.data == ELEARNING_NOT_DONE:
            return None
        return BookingStatus(self.status.data)

    @property
    def elearning_not_done(self) -> bool:
        """Only the people booked who have not confirmed the e-learning."""
        return not self.status.errors and self.status.data == ELEARNING_NOT_DONE

    @property
    def status_label(self) -> str | None:
        """The chosen status filter as the list names it ("Booked", "E-learning not done"), if any."""
        if self.status.errors or not self.status.data:
            return None
        return next((choice.label for choice in STATUS_CHOICES if choice.value == self.status.data), None)

    @property
    def filters(self) -> dict[str, str]:
        """The valid search and filter, as query arguments to carry through actions and redirects."""
        filters = {"q": self.search, "status": "" if self.status.errors else (self.status.data or "")}
        return {key: value for key, value in filters.items() if value}


class AddVolunteerForm(RegistrationForm):
    """The registration form as a coordinator fills it in for someone who phoned: the same fields and
    validators, without the baseline and equality questions, and with the coordinator's own privacy check."""

    baseline_confidence = None  # type: ignore[assignment]  # None removes an inherited WTForms field
    baseline_knowledge = None  # type: ignore[assignment]  # None removes an inherited WTForms field
    age_band = None  # type: ignore[assignment]  # None removes an inherited WTForms field
    gender = None  # type: ignore[assignment]  # None removes an inherited WTForms field
    ethnic_group = None  # type: ignore[assignment]  # None removes an inherited WTForms field
    disability = None  # type: ignore[assignment]  # None removes an inherited WTForms field
    followup_consent = None  # type: ignore[assignment]  # None removes an inherited WTForms field
    privacy_acknowledged = BooleanField(
        validators=[Required("Confirm that you have told the volunteer how we use their information")],
        false_values=("", "false", "0"),
    )


class RecordElearningForm(ElearningForm):
    """The volunteer's e-learning, recorded by a coordinator (GOV.UK date input)."""

    WHAT = "the date they completed the e-learning"

    declaration = BooleanField(
        validators=[Required("Confirm that the volunteer told you they have completed the MECC e-learning")],
        false_values=("", "false", "0"),
    )


class MoveBookingForm(MoveForm):
    """Which session to move a booking to: each choice labelled with its date and places left."""

    def __init__(self, *args, sessions=(), **kwargs):
        super().__init__(*args, sessions=sessions, **kwargs)
        self.choose_from(sessions)

    def choose_from(self, sessions) -> None:
        self.training_session.choices = options(
            (s.training_session.id, format_session_time(s.training_session.starts_at, s.training_session.ends_at))
            for s in sessions
        )
        self.place_hints = {
            str(s.training_session.id): f"{s.training_session.places_left} "
            f"{'place' if s.training_session.places_left == 1 else 'places'} left"
            for s in sessions
        }


class AttendanceForm(FlaskForm):
    attended = RadioField(
        choices=options([("yes", "Attended"), ("no", "Did not attend")]),
        validate_choice=False,
        validators=[Required("Choose attended or did not attend"), OneOf("Choose attended or did not attend")],
    )

    @property
    def was_there(self) -> bool:
        return self.attended.data == "yes"
