"""Survey forms, generated from the instrument (SPEC 6): one field per question, so a question added to the
instrument appears in the form, is validated and is stored with no change here or in a template.

Validators hold format rules only; who may answer, and when, lives in services.
"""

import re

from flask_wtf import FlaskForm
from wtforms import Form, RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import StopValidation, ValidationError

from mecc_volunteer.forms import choices_for
from mecc_volunteer.instrument import Question, QuestionType
from mecc_volunteer.validation import CleanText, Length, OneOf, Required, normalise_text

# Radios whose options come from the question (0-10 scales are radios too).
RADIO_TYPES = (QuestionType.SCALE_0_10, QuestionType.AGREE_5, QuestionType.RATING, QuestionType.SINGLE)
# A question key becomes a field name: it must not shadow what a form already has.
_RESERVED = set(dir(Form)) | {"csrf_token", "meta", "questions"}


def number_noun(question: Question) -> str:
    """'In the last 4 weeks, how many MECC conversations have you had?' -> 'the number of MECC conversations'."""
    found = re.search(r"\bhow many (.+?) (?:have|has|had|did|do|does|were|was|are|is)\b", question.wording, re.I)
    return f"the number of {found.group(1)}" if found else "a number"


def _short(wording: str) -> str:
    return wording.rstrip(" ?.")


class WholeNumber:
    """A whole number (ASCII digits, an optional minus sign) within the question's minimum and maximum."""

    def __init__(self, question: Question):
        self.question = question
        self.noun = number_noun(question)

    def __call__(self, form, field):
        value = field.data
        if not value:
            field.data = None
            return
        digits = value[1:] if value.startswith("-") else value
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 9:
            raise StopValidation(f"Enter {self.noun} as a whole number, like 3")
        number = int(value)
        noun = self.noun[0].upper() + self.noun[1:]
        if self.question.minimum is not None and number < self.question.minimum:
            raise StopValidation(f"{noun} must be {self.question.minimum} or more")
        if self.question.maximum is not None and number > self.question.maximum:
            raise StopValidation(f"{noun} must be {self.question.maximum} or fewer")
        field.data = str(number)


class AllOf:
    """Every ticked box must be one of the field's choices."""

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        allowed = {choice.value for choice in field.choices}
        if any(value not in allowed for value in field.data or ()):
            raise ValidationError(self.message)


class AtLeastOne:
    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        if not field.data:
            field.errors[:] = []
            raise StopValidation(self.message)


def field_for(question: Question):
    """The WTForms field for one question, with GOV.UK-style messages built from its wording."""
    wording = _short(question.wording)
    if question.type in RADIO_TYPES:
        if question.type is QuestionType.SCALE_0_10:
            missing = f"Select a number from 0 to 10 for: {wording}"  # noqa: S608 - a message, not SQL
            wrong = "Select a number from 0 to 10"
        else:
            missing = f"Select an answer for: {wording}"
            wrong = "Select an answer from the list"
        validators = [Required(missing)] if question.required else []
        return RadioField(choices=choices_for(question), validate_choice=False, validators=[*validators, OneOf(wrong)])
    if question.type is QuestionType.MULTIPLE:
        at_least_one = [AtLeastOne(f"Select at least one answer for: {wording}")] if question.required else []
        return SelectMultipleField(
            choices=choices_for(question),
            validate_choice=False,
            validators=[*at_least_one, AllOf("Select answers from the list")],
        )
    if question.type is QuestionType.NUMBER:
        noun = number_noun(question)
        validators = [Required(f"Enter {noun}")] if question.required else []
        return StringField(filters=[normalise_text], validators=[*validators, WholeNumber(question)])
    if question.type is QuestionType.TEXT:
        label = f"Your answer to ‘{wording}’"
        validators = [Required(f"Enter your answer to: {wording}")] if question.required else []
        return TextAreaField(
            filters=[normalise_text],
            validators=[*validators, CleanText(label, multiline=True), Length(label, question.max_length)],
        )
    raise ValueError(f"no form field for question type {question.type}")


class SurveyForm(FlaskForm):
    """The base of every generated survey form; `questions` says what each field asks."""

    questions: tuple[Question, ...] = ()

    def answers(self) -> dict[str, str | list[str]]:
        """The answered questions only: question key -> value (a list for multiple choice)."""
        result: dict[str, str | list[str]] = {}
        for question in self.questions:
            value = self[question.key].data
            if value in (None, "", [], ()):
                continue
            result[question.key] = list(value) if question.type is QuestionType.MULTIPLE else str(value)
        return result


def survey_form_class(questions: list[Question] | tuple[Question, ...]) -> type[SurveyForm]:
    """A form class with one field per question, in the instrument's order (the error summary's order)."""
    attributes: dict = {"questions": tuple(questions)}
    for question in questions:
        if question.key in _RESERVED or question.key.startswith("_"):
            raise ValueError(f"question key {question.key!r} cannot be a form field name")
        attributes[question.key] = field_for(question)
    return type("GeneratedSurveyForm", (SurveyForm,), attributes)
