"""The evaluation instrument, defined once as data (SPEC 6).

Forms, stored answers, the pilot review dashboard and the downloads all read these definitions, so a
version 2 can be added beside version 1 without breaking version-1 responses: every stored answer carries
the instrument version it was given under.
"""

import enum
from dataclasses import dataclass

from mecc_volunteer.models import SessionKind, Survey


class QuestionType(enum.Enum):
    SCALE_0_10 = "scale_0_10"  # 0 to 10
    AGREE_5 = "agree_5"  # strongly agree ... strongly disagree
    RATING = "rating"  # very good ... very poor, with "Don't know"
    NUMBER = "number"  # a whole number
    SINGLE = "single"  # one option
    MULTIPLE = "multiple"  # any number of options
    TEXT = "text"  # free text


@dataclass(frozen=True)
class Option:
    key: str
    label: str
    # The number behind the option for means and charts; None for "Don't know" and the like.
    score: int | None = None


@dataclass(frozen=True)
class Question:
    key: str
    survey: Survey
    type: QuestionType
    wording: str
    hint: str | None = None
    options: tuple[Option, ...] = ()
    required: bool = True
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 2000
    # The baseline question this one is paired with (before/after per person).
    paired_with: str | None = None
    # Asked only of attendees of this kind of session (the cascade questions).
    only_for: SessionKind | None = None

    @property
    def scale(self) -> str:
        """The scale in words, for the data dictionary."""
        if self.type is QuestionType.SCALE_0_10:
            return "0 (not at all) to 10 (extremely)"
        if self.type is QuestionType.NUMBER:
            return f"whole number from {self.minimum} to {self.maximum}"
        if self.type is QuestionType.TEXT:
            return f"free text, up to {self.max_length} characters"
        labels = "; ".join(f"{o.key} = {o.label}" for o in self.options)
        if self.type is QuestionType.MULTIPLE:
            return f"any of: {labels} (several separated by '|')"
        return labels

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)


@dataclass(frozen=True)
class Instrument:
    version: int
    questions: tuple[Question, ...]

    def for_survey(self, survey: Survey, kind: SessionKind | None = None) -> list[Question]:
        """The questions of one survey, in order; cascade questions only for their kind of session."""
        return [q for q in self.questions if q.survey is survey and (q.only_for is None or q.only_for is kind)]

    def question(self, survey: Survey, key: str) -> Question:
        return next(q for q in self.questions if q.survey is survey and q.key == key)


AGREE = (
    Option("strongly_agree", "Strongly agree", 5),
    Option("agree", "Agree", 4),
    Option("neither", "Neither agree nor disagree", 3),
    Option("disagree", "Disagree", 2),
    Option("strongly_disagree", "Strongly disagree", 1),
)
RATING = (
    Option("very_good", "Very good", 5),
    Option("good", "Good", 4),
    Option("neither", "Neither good nor poor", 3),
    Option("poor", "Poor", 2),
    Option("very_poor", "Very poor", 1),
    Option("dont_know", "Don't know", None),
)
HOW_WELL = (
    Option("very_well", "Very well", 5),
    Option("well", "Well", 4),
    Option("neither", "Neither well nor badly", 3),
    Option("badly", "Badly", 2),
    Option("very_badly", "Very badly", 1),
)
TOPICS = (
    Option("smoking", "Stopping smoking"),
    Option("physical_activity", "Physical activity"),
    Option("alcohol", "Alcohol"),
    Option("healthy_weight", "Healthy weight and diet"),
    Option("mental_wellbeing", "Mental wellbeing"),
    Option("other", "Something else"),
)
ACTIONS = (
    Option("asked", "Asked about their health or wellbeing"),
    Option("brief_advice", "Gave brief advice"),
    Option("signposted", "Signposted to support, such as Live Well Oxfordshire"),
    Option("referred", "Referred them to a service"),
)
CONFIDENCE = (
    "How confident do you feel about starting a conversation about health and wellbeing with someone you "
    "meet through your role?"
)
KNOWLEDGE = (
    "How well do you know where to signpost people locally for help with smoking, alcohol, healthy eating, "
    "physical activity, weight and mental wellbeing?"
)
NO_HEALTH_DETAILS = "Please do not include anyone's name or health details."

B, A, F = Survey.BASELINE, Survey.AFTER_SESSION, Survey.FOLLOWUP
Q = QuestionType

VERSION_1 = Instrument(
    version=1,
    questions=(
        Question("confidence", B, Q.SCALE_0_10, CONFIDENCE, "0 is not at all confident, 10 is extremely confident."),
        Question("knowledge", B, Q.SCALE_0_10, KNOWLEDGE, "0 is not at all, 10 is extremely well."),
        Question(
            "confidence",
            A,
            Q.SCALE_0_10,
            CONFIDENCE,
            "0 is not at all confident, 10 is extremely confident.",
            paired_with="confidence",
        ),
        Question(
            "knowledge", A, Q.SCALE_0_10, KNOWLEDGE, "0 is not at all, 10 is extremely well.", paired_with="knowledge"
        ),
        Question("overall", A, Q.RATING, "Overall, how was your experience of the training?", options=RATING),
        Question("relevant", A, Q.AGREE_5, "The session was relevant to my role", options=AGREE),
        Question(
            "intention",
            A,
            Q.AGREE_5,
            "I intend to have at least one MECC conversation in the next 4 weeks",
            options=AGREE,
        ),
        Question("online_format", A, Q.SINGLE, "How well did the online format work for you?", options=HOW_WELL),
        Question("do_differently", A, Q.TEXT, "What will you do differently?", NO_HEALTH_DETAILS, required=False),
        Question("improve", A, Q.TEXT, "What would improve this session?", NO_HEALTH_DETAILS, required=False),
        Question(
            "conversations",
            F,
            Q.NUMBER,
            "In the last 4 weeks, how many MECC conversations have you had?",
            "A MECC conversation is a brief chat about health or wellbeing. Enter 0 if none.",
            minimum=0,
            maximum=500,
        ),
        Question(
            "topics",
            F,
            Q.MULTIPLE,
            "What were they about?",
            "Select all that apply.",
            options=TOPICS,
            required=False,
        ),
        Question(
            "actions", F, Q.MULTIPLE, "What did you do?", "Select all that apply.", options=ACTIONS, required=False
        ),
        Question("barriers", F, Q.TEXT, "What got in the way, if anything?", NO_HEALTH_DETAILS, required=False),
        Question(
            "sessions_delivered",
            F,
            Q.NUMBER,
            "How many MECC sessions have you delivered since your training?",
            "Enter 0 if none yet.",
            minimum=0,
            maximum=200,
            only_for=SessionKind.TRAIN_THE_TRAINER,
        ),
        Question(
            "people_trained",
            F,
            Q.NUMBER,
            "How many people have you trained in total?",
            "Enter 0 if none yet.",
            minimum=0,
            maximum=5000,
            only_for=SessionKind.TRAIN_THE_TRAINER,
        ),
        Question(
            "cascade_organisations",
            F,
            Q.TEXT,
            "Which organisations were the people you trained from?",
            "For example, Oxfordshire Library Service, Home-Start.",
            required=False,
            max_length=500,
            only_for=SessionKind.TRAIN_THE_TRAINER,
        ),
    ),
)

CURRENT = VERSION_1

MULTIPLE_SEPARATOR = "|"
