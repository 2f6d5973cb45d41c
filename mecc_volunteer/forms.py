"""Forms and choices shared by every area."""

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectChoice

from mecc_volunteer.instrument import Question, QuestionType


def options(pairs: Iterable[tuple[object, str]]) -> list[SelectChoice]:
    """(value, label) pairs as the choices of a radio or select field."""
    return [SelectChoice(value=str(value), label=label) for value, label in pairs]


def choices_for(question: Question) -> list[SelectChoice]:
    """A question's answers as field choices: 0 to 10 for a scale, else its options (the instrument's data)."""
    if question.type is QuestionType.SCALE_0_10:
        return [SelectChoice(value=str(n), label=str(n)) for n in range(11)]
    return [SelectChoice(value=option.key, label=option.label) for option in question.options]


class ConfirmForm(FlaskForm):
    """A one-button action (cancel, sign out, send): CSRF only."""

    confirm = HiddenField(default="yes")
