"""Forms and choices shared by every area."""

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms import Field, HiddenField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # new in WTForms 3.3, not in its stubs

from mecc_volunteer.instrument import Question, QuestionType


def options(pairs: Iterable[tuple[object, str]]) -> list[SelectChoice]:
    """(value, label) pairs as the choices of a radio or select field."""
    return [SelectChoice(value=str(value), label=label) for value, label in pairs]


def choices_for(question: Question) -> list[SelectChoice]:
    """A question's answers as field choices: 0 to 10 for a scale, else its options (the instrument's data)."""
    if question.type is QuestionType.SCALE_0_10:
        return [SelectChoice(value=str(n), label=str(n)) for n in range(11)]
    return [SelectChoice(value=option.key, label=option.label) for option in question.options]


def add_error(field: Field, message: str) -> None:
    """Put a message (a broken rule, or a check across fields) under a field, after the errors it has."""
    field.errors = [*field.errors, message]


class ConfirmForm(FlaskForm):
    """A one-button action (cancel, sign out, send): CSRF only."""

    confirm = HiddenField(default="yes")
