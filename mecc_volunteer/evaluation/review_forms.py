"""The pilot review's GET filter form (format rules only; ReviewFilters parses session, dates and organisation)."""

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField

from mecc_volunteer.evaluation.review import MAX_SEARCH_LENGTH
from mecc_volunteer.forms import options
from mecc_volunteer.validation import CleanText, Length, normalise_text

# ReviewFilters.from_args reports problems by query argument; these are the form's fields for them.
FIELD_FOR_ARGUMENT = {
    "session": "session",
    "from": "date_from",
    "to": "date_to",
    "organisation": "organisation",
    "kind": "kind",
}


class ReviewFilterForm(FlaskForm):
    """No CSRF: it changes nothing."""

    class Meta:
        csrf = False

    session = SelectField(validate_choice=False)
    date_from = StringField(name="from")
    date_to = StringField(name="to")
    organisation = SelectField(validate_choice=False)
    kind = SelectField(validate_choice=False)
    q = StringField(filters=[normalise_text], validators=[CleanText("Search"), Length("Search", MAX_SEARCH_LENGTH)])

    def set_choices(self, sessions, organisations, kinds) -> None:
        self.session.choices = options(sessions)
        self.organisation.choices = options(organisations)
        self.kind.choices = options(kinds)

    def add_problems(self, problems: dict[str, str]) -> None:
        for argument, message in problems.items():
            self[FIELD_FOR_ARGUMENT[argument]].errors = [message]

    @property
    def search(self) -> str:
        return "" if self.q.errors else (self.q.data or "")


class BoardReportForm(FlaskForm):
    """The board report's period, and the review's other filters it carries (the report links from the review
    with them). No CSRF: it changes nothing."""

    class Meta:
        csrf = False

    date_from = StringField(name="from")
    date_to = StringField(name="to")
    organisation = SelectField(validate_choice=False)
    kind = SelectField(validate_choice=False)
    session = SelectField(validate_choice=False)

    def set_choices(self, sessions, organisations, kinds) -> None:
        self.session.choices = options(sessions)
        self.organisation.choices = options(organisations)
        self.kind.choices = options(kinds)

    def add_problems(self, problems: dict[str, str]) -> None:
        for argument, message in problems.items():
            self[FIELD_FOR_ARGUMENT[argument]].errors = [message]
