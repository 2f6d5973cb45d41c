"""The evaluators' pilot review (SPEC 2): read-only figures built from the instrument.

Every query groups in SQL or fetches one row per answer in a single statement (never one query per
booking), and nothing here writes. Any set of figures about fewer than SMALL_NUMBER people goes through
`suppress`, the one place small numbers are hidden.
"""

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import CURRENT, MULTIPLE_SEPARATOR, Instrument, Question, QuestionType
from mecc_volunteer.models import (
    HOLDING_PLACE_STATUSES,
    Booking,
    BookingStatus,
    District,
    EvaluationAnswer,
    EvaluationResponse,
    Organisation,
    SessionKind,
    Survey,
    TrainingSession,
    Volunteer,
)
from mecc_volunteer.search import LIKE_ESCAPE, contains_pattern
from mecc_volunteer.templating import format_date

# SPEC 2: any group of fewer than 5 people is shown as "fewer than 5".
SMALL_NUMBER = 5
MAX_SEARCH_LENGTH = 100
MAX_COMMENTS = 500

# A place held: waiting-list and cancelled bookings never reached the session (a move keeps its booking).
REGISTERED_STATUSES = HOLDING_PLACE_STATUSES
CHOICE_TYPES = (QuestionType.RATING, QuestionType.AGREE_5, QuestionType.SINGLE, QuestionType.MULTIPLE)
NO_DISTRICT = "Outside Oxfordshire or not sure"


# --- Suppression: the one place -----------------------------------------------------------------------


@dataclass(frozen=True)
class Suppressed:
    """Stands in for any figures about fewer than SMALL_NUMBER people; keeps only the question asked."""

    question: "Question | None" = None
    n: None = None
    suppressed: bool = True


def is_small(n: int) -> bool:
    return n < SMALL_NUMBER


def suppress(n: int, figures, question: "Question | None" = None):
    """The figures, or Suppressed when they are about fewer than SMALL_NUMBER people."""
    return Suppressed(question) if is_small(n) else figures


# --- Figures ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    registered: int = 0
    elearning_confirmed: int = 0
    attended: int = 0
    evaluated: int = 0
    followed_up: int = 0
    suppressed: bool = False

    STAGES = (
        ("registered", "Registered"),
        ("elearning_confirmed", "E-learning confirmed"),
        ("attended", "Attended"),
        ("evaluated", "Evaluated"),
        ("followed_up", "Followed up"),
    )

    @property
    def n(self) -> int:
        return self.registered

    def stages(self) -> list[tuple[str, int, float]]:
        """(label, count, percentage of registered)."""
        counts = [(label, getattr(self, name)) for name, label in self.STAGES]
        return [(label, count, percent(count, self.registered)) for label, count in counts]

    def chart_rows(self) -> list[tuple]:
        return [(label, pct, f"{count} ({pct:g}%)", "") for label, count, pct in self.stages()]


@dataclass(frozen=True)
class Group:
    """One row of a breakdown: a label and its funnel, or Suppressed."""

    label: str
    figures: Funnel | Suppressed


@dataclass(frozen=True)
class PairedStats:
    n: int
    mean_before: float | None
    mean_after: float | None
    mean_change: float | None
    improved_share: float | None  # percentage of people whose after score is higher than their before score
    suppressed: bool = False


@dataclass(frozen=True)
class PairedQuestion:
    question: Question
    stats: PairedStats | Suppressed
    maximum: int = 10

    def chart_rows(self) -> list[tuple]:
        stats = self.stats
        if isinstance(stats, Suppressed):  # the page shows "fewer than ..." instead
            raise ValueError("suppressed figures have no chart: check stats.suppressed first")
        return [
            ("Before the training", stats.mean_before, f"{stats.mean_before:g}", "app-chart__bar--before"),
            ("After the training", stats.mean_after, f"{stats.mean_after:g}", ""),
        ]


@dataclass(frozen=True)
class Distribution:
    question: Question
    n: int  # people who answered
    counts: list[tuple[str, int, float]]  # (option label, count, percentage of n), in instrument order
    mean_score: float | None
    suppressed: bool = False

    def chart_rows(self) -> list[tuple]:
        return [(label, pct, f"{count} ({pct:g}%)", "") for label, count, pct in self.counts]


@dataclass(frozen=True)
class NumberStats:
    question: Question
    n: int
    mean: float | None
    median: float | None
    total: int
    suppressed: bool = False


@dataclass(frozen=True)
class Comment:
    question: Question
    text: str
    session_starts_at: datetime


@dataclass
class Review:
    funnel: Funnel | Suppressed
    paired: list[PairedQuestion]
    distributions: dict[str, list]
    numbers: dict[str, list]
    cascade: list
    by_organisation: list[Group]
    by_district: list[Group]
    by_session: list[Group]
    comments: list[Comment]
    comment_count: int
    text_questions: list[Question] = field(default_factory=list)


def percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def paired_statistics(pairs: Sequence[tuple[float, float]]) -> PairedStats:
    """Before/after per person: pairs of (before, after) for the same booking. Pure, for testing."""
    n = len(pairs)
    if not n:
        return PairedStats(0, None, None, None, None)
    before = sum(b for b, _ in pairs) / n
    after = sum(a for _, a in pairs) / n
    improved = sum(1 for b, a in pairs if a > b)
    return PairedStats(
        n=n,
        mean_before=round(before, 1),
        mean_after=round(after, 1),
        mean_change=round(sum(a - b for b, a in pairs) / n, 1),
        improved_share=percent(improved, n),
    )


def number_statistics(question: Question, values: list[int]) -> NumberStats:
    if not values:
        return NumberStats(question, 0, None, None, 0)
    return NumberStats(
        question,
        n=len(values),
        mean=round(statistics.fmean(values), 1),
        median=statistics.median(values),
        total=sum(values),
    )


def distribution(question: Question, counts: Counter, n: int) -> Distribution:
    rows = [(o.label, counts.get(o.key, 0), percent(counts.get(o.key, 0), n)) for o in question.options]
    scored = [(o.score, counts.get(o.key, 0)) for o in question.options if o.score is not None]
    answered = sum(c for _, c in scored)
    mean = None
    if answered and question.type is not QuestionType.MULTIPLE:
        mean = round(sum(s * c for s, c in scored) / answered, 1)
    return Distribution(question, n, rows, mean)


# --- Queries ------------------------------------------------------------------------------------------


def _scoped(query: sa.Select, filters: ReviewFilters) -> sa.Select:
    """Join a query on Booking to its session and volunteer, keep places held, and apply the filters."""
    query = (
        query.join(TrainingSession, TrainingSession.id == Booking.training_session_id)
        .join(Volunteer, Volunteer.id == Booking.volunteer_id)
        .where(Booking.status.in_(REGISTERED_STATUSES))
    )
    return filters.apply(query)


def _answers(filters: ReviewFilters, *columns) -> sa.Select:
    query = sa.select(*columns).select_from(EvaluationAnswer).join(Booking, Booking.id == EvaluationAnswer.booking_id)
    return _scoped(query, filters)


def funnel_counts(filters: ReviewFilters, group_by=None) -> list[tuple[object, Funnel]]:
    """The funnel in one grouped query: [(group key, Funnel)], or [(None, Funnel)] without group_by."""
    after = aliased(EvaluationResponse)
    followup = aliased(EvaluationResponse)
    columns = [
        sa.func.count(Booking.id),
        sa.func.count(Booking.elearning_confirmed_at),
        sa.func.coalesce(sa.func.sum(sa.case((Booking.status == BookingStatus.ATTENDED, 1), else_=0)), 0),
        sa.func.count(after.id),
        sa.func.count(followup.id),
    ]
    query = sa.select(group_by if group_by is not None else sa.null(), *columns).select_from(Booking)
    query = query.outerjoin(after, sa.and_(after.booking_id == Booking.id, after.survey == Survey.AFTER_SESSION))
    query = query.outerjoin(followup, sa.and_(followup.booking_id == Booking.id, followup.survey == Survey.FOLLOWUP))
    query = _scoped(query, filters)
    if group_by is not None:
        query = query.group_by(group_by)
    funnels = []
    for key, *counts in db.session.execute(query):
        registered, confirmed, attended, evaluated, followed_up = (int(v or 0) for v in counts)
        funnels.append((key, Funnel(registered, confirmed, attended, evaluated, followed_up)))
    return funnels


def _suppressed_funnel(funnel: Funnel) -> Funnel | Suppressed:
    return suppress(funnel.registered, funnel)


def _breakdown(filters: ReviewFilters, group_by, labels: dict, order: list) -> list[Group]:
    counts = dict(funnel_counts(filters, group_by))
    return [Group(labels[key], _suppressed_funnel(counts[key])) for key in order if key in counts]


def paired_questions(filters: ReviewFilters, instrument: Instrument = CURRENT) -> list[PairedQuestion]:
    """Before and after per person: only bookings with both answers count."""
    results = []
    for question in instrument.questions:
        if not question.paired_with:
            continue
        before = aliased(EvaluationAnswer)
        after = aliased(EvaluationAnswer)
        query = (
            sa.select(before.value, after.value)
            .select_from(before)
            .join(
                after,
                sa.and_(
                    after.booking_id == before.booking_id,
                    after.survey == question.survey,
                    after.question_key == question.key,
                ),
            )
            .join(Booking, Booking.id == before.booking_id)
            .where(before.survey == Survey.BASELINE, before.question_key == question.paired_with)
        )
        pairs = [
            (before_value, after_value)
            for before_value, after_value in (
                (_number(b), _number(a)) for b, a in db.session.execute(_scoped(query, filters))
            )
            if before_value is not None and after_value is not None
        ]
        stats = paired_statistics(pairs)
        results.append(PairedQuestion(question, suppress(stats.n, stats), question.maximum or 10))
    return results


def _number(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def _keyed(questions: list[Question]):
    """A condition matching the answers to these questions (survey and key together)."""
    return sa.or_(
        *(sa.and_(EvaluationAnswer.survey == q.survey, EvaluationAnswer.question_key == q.key) for q in questions)
    )


def choice_distributions(filters: ReviewFilters, instrument: Instrument = CURRENT) -> list[Distribution]:
    """Counts per option for every choice question, in one grouped query."""
    questions = [q for q in instrument.questions if q.type in CHOICE_TYPES]
    if not questions:
        return []
    answer = (EvaluationAnswer.survey, EvaluationAnswer.question_key, EvaluationAnswer.value)
    query = _answers(filters, *answer, sa.func.count()).where(_keyed(questions)).group_by(*answer)
    counts: dict[tuple, Counter] = {}
    people: Counter = Counter()
    for survey, key, value, count in db.session.execute(query):
        people[(survey, key)] += count
        for part in value.split(MULTIPLE_SEPARATOR) if value else []:
            counts.setdefault((survey, key), Counter())[part] += count
    results = []
    for q in questions:
        d = distribution(q, counts.get((q.survey, q.key), Counter()), people[(q.survey, q.key)])
        results.append(suppress(d.n, d, q))
    return results


def number_questions(filters: ReviewFilters, instrument: Instrument = CURRENT) -> list:
    """n, mean, median and total for every number question; the values come in one query."""
    questions = [q for q in instrument.questions if q.type is QuestionType.NUMBER]
    if not questions:
        return []
    answer = (EvaluationAnswer.survey, EvaluationAnswer.question_key, EvaluationAnswer.value)
    query = _answers(filters, *answer).where(_keyed(questions))
    values: dict[tuple, list[int]] = {}
    for survey, key, value in db.session.execute(query):
        number = _number(value)
        if number is not None:
            values.setdefault((survey, key), []).append(number)
    results = []
    for q in questions:
        stats = number_statistics(q, values.get((q.survey, q.key), []))
        results.append(suppress(stats.n, stats, q))
    return results


def search_comments(filters: ReviewFilters, q: str = "", instrument: Instrument = CURRENT) -> tuple[list[Comment], int]:
    """Free-text answers to every text question, newest first, without names; `q` matches case-insensitively."""
    questions = [q_ for q_ in instrument.questions if q_.type is QuestionType.TEXT]
    if not questions:
        return [], 0
    by_key = {(x.survey, x.key): x for x in questions}
    answer = (EvaluationAnswer.survey, EvaluationAnswer.question_key, EvaluationAnswer.value)
    query = _answers(filters, *answer, TrainingSession.starts_at)
    query = query.where(_keyed(questions), sa.func.length(sa.func.trim(EvaluationAnswer.value)) > 0)
    if q:
        query = query.where(EvaluationAnswer.value.ilike(contains_pattern(q), escape=LIKE_ESCAPE))
    count = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    newest_first = query.order_by(EvaluationAnswer.answered_at.desc(), EvaluationAnswer.id.desc())
    rows = db.session.execute(newest_first.limit(MAX_COMMENTS))
    return [Comment(by_key[(s, k)], v, at) for s, k, v, at in rows], count


# --- Choices for the filter form -----------------------------------------------------------------------


def session_choices() -> list[tuple[int, str]]:
    sessions = db.session.scalars(sa.select(TrainingSession).order_by(TrainingSession.starts_at))
    return [(s.id, f"{format_date(s.starts_at)} ({s.kind.label})") for s in sessions]


def organisation_choices() -> list[tuple[int, str]]:
    query = sa.select(Organisation.id, Organisation.name).order_by(Organisation.sort_order, Organisation.name)
    return [(i, name) for i, name in db.session.execute(query)]


# --- The whole dashboard ------------------------------------------------------------------------------


def build_review(filters: ReviewFilters, *, q: str = "", instrument: Instrument = CURRENT) -> Review:
    overall = funnel_counts(filters)
    funnel = overall[0][1] if overall else Funnel()

    organisations = organisation_choices()
    district_query = sa.select(District.id, District.name).order_by(District.sort_order, District.name)
    districts = list(db.session.execute(district_query))
    sessions = session_choices()

    distributions: dict[str, list] = {}
    for d in choice_distributions(filters, instrument):
        distributions.setdefault(d.question.survey.value, []).append(d)
    numbers: dict[str, list] = {}
    cascade = []
    for stats in number_questions(filters, instrument):
        if stats.question.only_for is SessionKind.TRAIN_THE_TRAINER:
            cascade.append(stats)
        else:
            numbers.setdefault(stats.question.survey.value, []).append(stats)
    comments, comment_count = search_comments(filters, q, instrument)
    return Review(
        funnel=_suppressed_funnel(funnel),
        paired=paired_questions(filters, instrument),
        distributions=distributions,
        numbers=numbers,
        cascade=cascade,
        by_organisation=_breakdown(
            filters, Volunteer.organisation_id, dict(organisations), [i for i, _ in organisations]
        ),
        by_district=_breakdown(
            filters, Volunteer.district_id, dict(districts) | {None: NO_DISTRICT}, [i for i, _ in districts] + [None]
        ),
        by_session=_breakdown(filters, Booking.training_session_id, dict(sessions), [i for i, _ in sessions]),
        comments=comments,
        comment_count=comment_count,
        text_questions=[x for x in instrument.questions if x.type is QuestionType.TEXT],
    )
