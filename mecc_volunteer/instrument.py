"""The evaluation instrument, defined once as data (SPEC 6), in every version that has been used.

Forms, stored answers, the pilot review dashboard and the downloads all read these definitions. Every stored
answer carries the instrument version it was given under, and versions coexist: a question carries a stable
concept key (what it measures) and its scale, and one (survey, question key) always means one concept on one
scale in every version. A question asked on a new scale gets a new key, so answers on different scales are
never averaged or paired together; `all_questions` is the union the review and the downloads read.
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
    # What the question measures, stable across versions ("confidence"); None means the same as the key.
    concept_key: str | None = None
    # The after-session question this one is the retrospective "thinking back to before" rating for
    # (a then-test: both answers come from the same after-session response).
    retrospective_of: str | None = None

    @property
    def concept(self) -> str:
        return self.concept_key or self.key

    @property
    def scale_key(self) -> str:
        """The scale as an identifier: answers are only compared or averaged within one scale."""
        if self.type is QuestionType.NUMBER:
            return f"number_{self.minimum}_{self.maximum}"
        if self.options:
            return f"{self.type.value}:" + ",".join(o.key for o in self.options)
        return self.type.value

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

RETROSPECTIVE_CONFIDENCE = (
    "Thinking back to before the session, how confident were you about starting a conversation about health and "
    "wellbeing with someone you meet through your role?"
)


def _version_2_questions() -> tuple[Question, ...]:
    """Version 1 with the retrospective confidence question after the after-session confidence question: rated
    at the same moment as "now", it corrects the response shift of self-rated confidence (people often find they
    knew less than they thought before training)."""
    questions: list[Question] = []
    for question in VERSION_1.questions:
        questions.append(question)
        if question.survey is A and question.key == "confidence":
            questions.append(
                Question(
                    "confidence_before",
                    A,
                    Q.SCALE_0_10,
                    RETROSPECTIVE_CONFIDENCE,
                    "0 is not at all confident, 10 is extremely confident.",
                    concept_key="confidence_retrospective",
                    retrospective_of="confidence",
                )
            )
    return tuple(questions)


VERSION_2 = Instrument(version=2, questions=_version_2_questions())

# Every version answers have been given under; new surveys use CURRENT.
VERSIONS: tuple[Instrument, ...] = (VERSION_1, VERSION_2)
CURRENT = VERSION_2


def all_questions(current: Instrument | None = None) -> list[Question]:
    """Every question of every version (with `current` in place of its own version), once per (survey, key),
    in instrument order: a question new in a later version follows the question it follows there."""
    by_version = {i.version: i for i in VERSIONS}
    if current is not None:
        by_version[current.version] = current
    ordered: list[Question] = []
    seen: dict[tuple, int] = {}
    for version in sorted(by_version):
        previous: tuple | None = None
        for question in by_version[version].questions:
            ident = (question.survey, question.key)
            if ident in seen:
                # A later version's wording or hint wins; the concept and scale never change (see the tests).
                ordered[seen[ident]] = question
            else:
                at = seen[previous] + 1 if previous is not None else len(ordered)
                ordered.insert(at, question)
                seen = {(q.survey, q.key): i for i, q in enumerate(ordered)}
            previous = ident
    return ordered


def versions_of(survey: Survey, key: str, current: Instrument | None = None) -> list[int]:
    """The versions in which a question was asked."""
    by_version = {i.version: i for i in VERSIONS}
    if current is not None:
        by_version[current.version] = current
    return sorted(v for v, i in by_version.items() if any(q.survey is survey and q.key == key for q in i.questions))


MULTIPLE_SEPARATOR = "|"
