"""Coordinator forms: format rules only; the rules about bookings live in services."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField

from mecc_volunteer.forms import add_error, options
from mecc_volunteer.models import SessionKind
from mecc_volunteer.sessions.joining_links import joining_link_problem
from mecc_volunteer.sessions.services import MAX_CAPACITY, SessionDetails, parse_time
from mecc_volunteer.sessions.trainers import NotATrainedTrainer, TrainerChoice
from mecc_volunteer.validation import CleanText, Length, OneOf, Required, normalise_text, parse_date_parts


def _text(**kw):
    return StringField(filters=[normalise_text], **kw)


def _whole_number(value: str | None, *, low: int, high: int) -> int | None:
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if low <= number <= high else None


class SessionForm(FlaskForm):
    day = _text(validators=[Length("Day", 2)])
    month = _text(validators=[Length("Month", 2)])
    year = _text(validators=[Length("Year", 4)])
    start_time = _text(validators=[Required("Enter the start time"), Length("Start time", 10)])
    end_time = _text(validators=[Required("Enter the end time"), Length("End time", 10)])
    kind = RadioField(
        choices=options((k.value, k.label) for k in SessionKind),
        validate_choice=False,
        default=SessionKind.VOLUNTEER_TRAINING.value,
        validators=[Required("Select the kind of session"), OneOf("Select the kind of session")],
    )
    capacity = _text(validators=[Required("Enter the number of places"), Length("Capacity", 6)])
    trainer_name = _text(validators=[CleanText("Trainer"), Length("Trainer", 100)])
    # Empty is "None of these"; the choices are the trained trainers (sessions.trainers), set per request.
    trainer_volunteer_id = SelectField(validate_choice=False, validators=[OneOf(NotATrainedTrainer.message)])
    joining_link = _text(validators=[CleanText("Joining link"), Length("Joining link", 500)])
    cutoff_days = _text(validators=[Length("Cut-off", 3)])
    allow_late_promotion = BooleanField(false_values=("", "false", "0"))
    # The button under the warning about a session of the same kind at an overlapping time: add it anyway.
    same_time_confirmed = BooleanField(false_values=("", "false", "0"))

    def __init__(self, *args, allowed_hosts: tuple[str, ...], trainers: list[TrainerChoice], **kwargs):
        super().__init__(*args, **kwargs)
        self.allowed_hosts = allowed_hosts
        self.trainer_volunteer_id.choices = options((t.volunteer_id, t.label) for t in trainers)
        self._details: SessionDetails | None = None

    @property
    def details(self) -> SessionDetails:
        """The session as entered, once validate() has passed."""
        if self._details is None:
            raise RuntimeError("SessionForm.details is set by a successful validate()")
        return self._details

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        day, problem = parse_date_parts(self.day.data, self.month.data, self.year.data, what="the date of the session")
        if problem:
            self.day.errors = [problem, *self.day.errors]
        # A time already refused (too long, say) is not parsed: a string of thousands of digits is not a time.
        start = parse_time(self.start_time.data) if self.start_time.data and not self.start_time.errors else None
        if self.start_time.data and not self.start_time.errors and start is None:
            add_error(self.start_time, "Enter the start time as hours and minutes, like 10:30")
        end = parse_time(self.end_time.data) if self.end_time.data and not self.end_time.errors else None
        if self.end_time.data and not self.end_time.errors and end is None:
            add_error(self.end_time, "Enter the end time as hours and minutes, like 12:00")
        if start and end and end <= start:
            add_error(self.end_time, "The end time must be after the start time")
        capacity = _whole_number(self.capacity.data, low=1, high=MAX_CAPACITY)
        if self.capacity.data and capacity is None:
            add_error(self.capacity, f"The number of places must be a whole number from 1 to {MAX_CAPACITY}")
        cutoff = None
        if self.cutoff_days.data:
            cutoff = _whole_number(self.cutoff_days.data, low=0, high=60)
            if cutoff is None:
                add_error(self.cutoff_days, "The cut-off must be a whole number of days from 0 to 60")
        link = self.joining_link.data or None
        if link and not self.joining_link.errors:
            problem = joining_link_problem(link, self.allowed_hosts)
            if problem:
                add_error(self.joining_link, problem)
        if any(field.errors for field in self):
            return False
        if day is None or start is None or end is None or capacity is None:  # each has an error if missing
            raise RuntimeError("a session form with no errors lacks a day, a time or the number of places")
        self._details = SessionDetails(
            day=day,
            start=start,
            end=end,
            kind=SessionKind(self.kind.data),
            capacity=capacity,
            trainer_name=self.trainer_name.data or None,
            trainer_volunteer_id=int(self.trainer_volunteer_id.data) if self.trainer_volunteer_id.data else None,
            joining_link=link,
            cutoff_days=cutoff,
            allow_late_promotion=bool(self.allow_late_promotion.data),
        )
        return valid

    def fill_from(self, details: SessionDetails) -> None:
        self.day.data, self.month.data, self.year.data = (
            str(details.day.day),
            str(details.day.month),
            str(details.day.year),
        )
        self.start_time.data = details.start.strftime("%H:%M")
        self.end_time.data = details.end.strftime("%H:%M")
        self.kind.data = details.kind.value
        self.capacity.data = str(details.capacity)
        self.trainer_name.data = details.trainer_name or ""
        self.trainer_volunteer_id.data = (
            "" if details.trainer_volunteer_id is None else str(details.trainer_volunteer_id)
        )
        self.joining_link.data = details.joining_link or ""
        self.cutoff_days.data = "" if details.cutoff_days is None else str(details.cutoff_days)
        self.allow_late_promotion.data = details.allow_late_promotion
