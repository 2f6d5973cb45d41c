"""The evaluators' pilot review (SPEC 2, issue 10): read-only figures built from the instrument.

Rates mean what they say: the funnel counts places held at sessions already held (ended, not cancelled),
each rate is over the people who could have reached the stage, and every figure carries its n. Every table
of counts goes through `disclosure.protect`, on screen (Mode.SCREEN) or for what leaves the app
(Mode.OUTPUT, the board report and the evaluator pack). Queries group in SQL or fetch one row per booking
in a single statement (never one query per booking), and nothing here writes.
"""

import dataclasses
import statistics as stats_module
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from mecc_volunteer import instrument as instruments
from mecc_volunteer import settings
from mecc_volunteer.evaluation import cascade as cascade_module
from mecc_volunteer.evaluation.disclosure import Mode, ProtectedTable, protect
from mecc_volunteer.evaluation.filters import ReviewFilters
from mecc_volunteer.evaluation.statistics import PairedChange, paired_change
from mecc_volunteer.extensions import db
from mecc_volunteer.instrument import MULTIPLE_SEPARATOR, Instrument, Question, QuestionType
from mecc_volunteer.models import (
    HOLDING_PLACE_STATUSES,
    Booking,
    BookingStatus,
    District,
    EvaluationAnswer,
    EvaluationResponse,
    Organisation,
    OrganisationType,
    SessionKind,
    Survey,
    TrainingSession,
    Volunteer,
    utcnow,
)
from mecc_volunteer.search import LIKE_ESCAPE, contains_pattern
from mecc_volunteer.templating import format_session_label
from mecc_volunteer.volunteers.forms import AGE_BANDS, ETHNIC_GROUPS, GENDERS

MAX_SEARCH_LENGTH = 100
MAX_COMMENTS = 500

# A place held: waiting-list and cancelled bookings never reached the session (a move keeps its booking).
REGISTERED_STATUSES = HOLDING_PLACE_STATUSES
CHOICE_TYPES = (QuestionType.RATING, QuestionType.AGREE_5, QuestionType.SINGLE, QuestionType.MULTIPLE)
NO_DISTRICT = "Outside Oxfordshire or not sure"
NOT_ANSWERED = "Not answered"
NO_TYPE = "No type given"
# Agree or strongly agree (the options scored 4 and 5) with the intention statement.
INTENDING_SCORE = 4

# The counts every breakdown holds, in order: the first is the group's size. Each is about people.
COUNT_COLUMNS = (
    "registered",
    "elearning_confirmed",
    "attended",
    "evaluated",
    "followup_due",
    "followed_up",
    "paired",
    "intention_answered",
    "intending",
)
# Which count each is part of, as anyone reading the tables knows (the audit uses it; see disclosure.py).
COUNT_PARTS = {
    "elearning_confirmed": "registered",
    "attended": "registered",
    "evaluated": "attended",
    "followup_due": "attended",
    "followed_up": "followup_due",
    "paired": "attended",
    "intention_answered": "attended",
    "intending": "intention_answered",
}
COLUMN_LABELS = {
    "registered": "Registered",
    "elearning_confirmed": "E-learning confirmed",
    "attended": "Attended",
    "evaluated": "Evaluated",
    "followup_due": "Follow-up due",
    "followed_up": "Followed up",
    "paired": "Confidence before and after",
    "intention_answered": "Answered the intention question",
    "intending": "Intend to have a MECC conversation",
}
# Each stage of the funnel as a rate over the people who could reach it.
RATES = (
    ("elearning_confirmed", "registered"),
    ("attended", "registered"),
    ("evaluated", "attended"),
    ("followed_up", "followup_due"),
    ("intending", "intention_answered"),
)
RATE_WORDS = {
    "elearning_confirmed": "of registered",
    "attended": "of registered",
    "evaluated": "of attended",
    "followed_up": "of those due who agreed to be contacted",
    "intending": "of those who answered",
}


# --- Figures ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breakdown:
    """One dimension (organisation type, area, age band…): its protected table and each group's mean change
    in confidence (None where hidden: a group's mean is shown only when its paired count is shown and at
    least the threshold)."""

    key: str
    title: str
    table: ProtectedTable
    mean_change: dict[str, float | None]


@dataclass(frozen=True)
class Comparison:
    """A paired before/after comparison of one concept on one scale."""

    key: str
    label: str
    design: str  # "registration" (baseline at registration, after the session) or "retrospective" (then-test)
    before: Question
    after: Question

    @property
    def maximum(self) -> int:
        return self.after.maximum or 10


@dataclass(frozen=True)
class PairedResult:
    comparison: Comparison
    change: PairedChange | None  # None when fewer than the threshold are paired
    n: int  # paired (shown only when change is not None)
    shares: ProtectedTable  # improved / unchanged / declined, protected
    not_paired: ProtectedTable  # attended but not paired, by reason


@dataclass(frozen=True)
class Distribution:
    question: Question
    table: ProtectedTable  # one row per option; total = people who answered (not for multiple choice)
    answered: int
    mean_score: float | None  # on the option scores, None when hidden or not scored


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


@dataclass(frozen=True)
class CascadeReview:
    table: ProtectedTable  # one row: trained, followed up, reported running, running in the app, running any
    reached: ProtectedTable  # people trained by them: as reported at follow-up, and attending in this app
    figures: cascade_module.CascadeFigures
    shown: bool  # sessions and people reached are shown only when the trained group is shown
    withheld: bool = False  # not shown at all: the funnel hides the attendance it starts from


@dataclass
class Review:
    now: datetime
    filters: ReviewFilters
    mode: Mode
    threshold: int
    upcoming: ProtectedTable  # registrations for sessions still to come
    by_kind: Breakdown  # the funnel for volunteer training and train the trainer; its total is the funnel
    breakdowns: list[Breakdown]  # session, organisation, organisation type, area
    inequalities: list[Breakdown]  # organisation type, area, age band, gender, ethnic group
    paired: list[PairedResult]
    distributions: dict[str, list[Distribution]]
    followup: dict[SessionKind, tuple[list[Distribution], list[NumberStats]]]
    cascade: CascadeReview
    comments: list[Comment]
    comment_count: int
    comments_hidden: bool
    text_questions: list[Question] = field(default_factory=list)

    @property
    def funnel(self) -> ProtectedTable:
        return self.by_kind.table

    def breakdown(self, key: str) -> Breakdown:
        return next(b for b in [self.by_kind, *self.breakdowns, *self.inequalities] if b.key == key)


def percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def number_statistics(question: Question, values: list[int]) -> NumberStats:
    if not values:
        return NumberStats(question, 0, None, None, 0)
    return NumberStats(
        question,
        n=len(values),
        mean=round(stats_module.fmean(values), 1),
        median=stats_module.median(values),
        total=sum(values),
    )


def _number(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


# --- Scope ----------------------------------------------------------------------------------------------


def held(now: datetime):
    """A session already held: ended and not cancelled."""
    return sa.and_(TrainingSession.ends_at <= now, TrainingSession.cancelled_at.is_(None))


def _scoped(query: sa.Select, filters: ReviewFilters, now: datetime, *, held_only: bool = True) -> sa.Select:
    """Join a query on Booking to its session and volunteer, keep places held (at sessions already held),
    and apply the filters."""
    query = (
        query.join(TrainingSession, TrainingSession.id == Booking.training_session_id)
        .join(Volunteer, Volunteer.id == Booking.volunteer_id)
        .where(Booking.status.in_(REGISTERED_STATUSES))
    )
    if held_only:
        query = query.where(held(now))
    return filters.apply(query)


def _answers(filters: ReviewFilters, now: datetime, *columns) -> sa.Select:
    query = sa.select(*columns).select_from(EvaluationAnswer).join(Booking, Booking.id == EvaluationAnswer.booking_id)
    return _scoped(query, filters, now)


# --- Dimensions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    key: str
    title: str
    column: Any  # a column of the booking, its session, volunteer or organisation
    groups: Callable[[], Sequence[tuple[object, str]]]  # (key, label) in order


def _listed(query) -> Callable[[], list[tuple[object, str]]]:
    return lambda: [(key, label) for key, label in db.session.execute(query)]


def _with_none(groups: Callable, label: str) -> Callable[[], list[tuple[object, str]]]:
    return lambda: [*groups(), (None, label)]


def _choices(choices) -> Callable[[], list[tuple[object, str]]]:
    return lambda: [(c.value, c.label) for c in choices] + [(None, NOT_ANSWERED)]


def _join_organisation(query: sa.Select) -> sa.Select:
    return query.join(Organisation, Organisation.id == Volunteer.organisation_id)


def session_choices() -> list[tuple[int, str]]:
    """Each session by its start and kind; where two share those (sessions side by side), by its place too, then
    by a number: the filter's list and the table by session name each session apart."""
    sessions = list(
        db.session.scalars(sa.select(TrainingSession).order_by(TrainingSession.starts_at, TrainingSession.id))
    )
    labels = [format_session_label(s.starts_at, s.kind.label) for s in sessions]
    repeated = Counter(labels)
    labels = [
        f"{label}, {s.location}" if repeated[label] > 1 else label for label, s in zip(labels, sessions, strict=True)
    ]
    repeated, seen = Counter(labels), Counter[str]()
    numbered = []
    for label in labels:
        seen[label] += 1
        numbered.append(f"{label} ({seen[label]} of {repeated[label]})" if repeated[label] > 1 else label)
    return [(s.id, label) for s, label in zip(sessions, numbered, strict=True)]


def kind_choices() -> list[tuple[str, str]]:
    return [(k.value, k.label) for k in SessionKind]


def organisation_choices() -> list[tuple[int, str]]:
    query = sa.select(Organisation.id, Organisation.name).order_by(Organisation.sort_order, Organisation.name)
    return [(i, name) for i, name in db.session.execute(query)]


KIND = Dimension("kind", "By kind of session", TrainingSession.kind, lambda: [(k, k.label) for k in SessionKind])
SESSION = Dimension("session", "By session", Booking.training_session_id, session_choices)
ORGANISATION = Dimension("organisation", "By organisation", Volunteer.organisation_id, organisation_choices)
ORGANISATION_TYPE = Dimension(
    "organisation_type",
    "By type of organisation",
    Organisation.organisation_type_id,
    _with_none(
        _listed(
            sa.select(OrganisationType.id, OrganisationType.name).order_by(
                OrganisationType.sort_order, OrganisationType.name
            )
        ),
        NO_TYPE,
    ),
)
AREA = Dimension(
    "area",
    "By area",
    Volunteer.district_id,
    _with_none(
        _listed(sa.select(District.id, District.name).order_by(District.sort_order, District.name)), NO_DISTRICT
    ),
)
AGE_BAND = Dimension("age_band", "By age band", Volunteer.age_band, _choices(AGE_BANDS))
GENDER = Dimension("gender", "By gender", Volunteer.gender, _choices(GENDERS))
ETHNIC_GROUP = Dimension("ethnic_group", "By ethnic group", Volunteer.ethnic_group, _choices(ETHNIC_GROUPS))

BREAKDOWNS = (SESSION, ORGANISATION, ORGANISATION_TYPE, AREA)
INEQUALITIES = (ORGANISATION_TYPE, AREA, AGE_BAND, GENDER, ETHNIC_GROUP)
# Each dimension once: a table shown in two sections is the same table, with the same figures hidden.
DIMENSIONS = tuple(dict.fromkeys((*BREAKDOWNS, *INEQUALITIES)))


# --- Counts per booking, grouped in Python ------------------------------------------------------------------


@dataclass(frozen=True)
class BookingFacts:
    """One place held at a session already held: the groups it falls in, and which counts it adds to."""

    keys: dict[str, object]  # dimension key -> group key
    counts: tuple[int, ...]  # 0 or 1 for each of COUNT_COLUMNS
    confidence_change: int | None  # after minus before, when paired


def booking_facts(filters: ReviewFilters, now: datetime) -> list[BookingFacts]:
    """Every place held at a session already held, with its groups and flags, in one statement; the
    breakdowns group these in Python (one query for every dimension, not one per dimension)."""
    programme = settings.current()
    due_before = now - timedelta(weeks=programme.followup_after_weeks)
    after = aliased(EvaluationResponse)
    followup = aliased(EvaluationResponse)
    baseline_confidence = aliased(EvaluationAnswer)
    after_confidence = aliased(EvaluationAnswer)
    intention = aliased(EvaluationAnswer)

    def answer_of(alias, survey: Survey, question_key: str):
        return sa.and_(alias.booking_id == Booking.id, alias.survey == survey, alias.question_key == question_key)

    dimensions = (KIND, *DIMENSIONS)
    query = (
        sa.select(
            *(d.column for d in dimensions),
            Booking.status,
            Booking.elearning_confirmed_at.is_not(None),
            Volunteer.followup_consent,
            TrainingSession.ends_at <= due_before,
            after.id.is_not(None),
            followup.id.is_not(None),
            baseline_confidence.value,
            after_confidence.value,
            intention.value,
        )
        .select_from(Booking)
        .outerjoin(after, sa.and_(after.booking_id == Booking.id, after.survey == Survey.AFTER_SESSION))
        .outerjoin(followup, sa.and_(followup.booking_id == Booking.id, followup.survey == Survey.FOLLOWUP))
        .outerjoin(baseline_confidence, answer_of(baseline_confidence, Survey.BASELINE, "confidence"))
        .outerjoin(after_confidence, answer_of(after_confidence, Survey.AFTER_SESSION, "confidence"))
        .outerjoin(intention, answer_of(intention, Survey.AFTER_SESSION, "intention"))
    )
    query = _join_organisation(_scoped(query, filters, now))
    intending_keys = {
        o.key
        for o in instruments.CURRENT.question(Survey.AFTER_SESSION, "intention").options
        if (o.score or 0) >= INTENDING_SCORE
    }
    facts = []
    width = len(dimensions)
    for row in db.session.execute(query):
        keys = dict(zip((d.key for d in dimensions), row[:width], strict=True))
        status, confirmed, consent, old_enough, evaluated, followed_up, before, after_value, intends = row[width:]
        attended = status is BookingStatus.ATTENDED
        due = attended and bool(consent) and bool(old_enough)
        before_n, after_n = _number(before), _number(after_value)
        change = after_n - before_n if attended and before_n is not None and after_n is not None else None
        answered_intention = attended and intends is not None
        counts = (
            1,
            int(bool(confirmed)),
            int(attended),
            int(attended and bool(evaluated)),
            int(due),
            int(due and bool(followed_up)),
            int(change is not None),
            int(answered_intention),
            int(answered_intention and intends in intending_keys),
        )
        facts.append(BookingFacts(keys, counts, change))
    return facts


def _sum(facts: list[BookingFacts]) -> list[int]:
    if not facts:
        return [0] * len(COUNT_COLUMNS)
    return [sum(column) for column in zip(*(f.counts for f in facts), strict=True)]


def _grouped(dimension: Dimension, facts: list[BookingFacts]):
    """The groups of a dimension with anyone in them, in the list's order, and each group's bookings."""
    by_group: dict[object, list[BookingFacts]] = defaultdict(list)
    for fact in facts:
        by_group[fact.keys[dimension.key]].append(fact)
    labels = list(dimension.groups())
    known = {key for key, _ in labels}
    # A group no longer in the list (e.g. an answer option since removed) still counts, under its key.
    labels += [(key, str(key)) for key in by_group if key not in known]
    return [(key, label) for key, label in labels if by_group.get(key)], by_group


def breakdown(
    dimension: Dimension,
    facts: list[BookingFacts],
    mode: Mode,
    threshold: int,
    overall: list[int],
    *,
    forced_total: Collection[str] = (),
) -> Breakdown:
    """One dimension's table: a row per group with anyone in it, in the list's order, and the total."""
    groups, by_group = _grouped(dimension, facts)
    table = protect(
        COUNT_COLUMNS,
        [(label, _sum(by_group[key])) for key, label in groups],
        overall,
        threshold=threshold,
        mode=mode,
        within=COUNT_PARTS,
        forced_total=forced_total,
    )
    return Breakdown(dimension.key, dimension.title, table, _mean_changes(table, groups, by_group, facts, threshold))


def linked_breakdowns(
    dimension: Dimension,
    parent: Dimension,
    facts: list[BookingFacts],
    mode: Mode,
    threshold: int,
    overall: list[int],
    *,
    forced_total: Collection[str] = (),
    forced_parent: dict[object, frozenset[str]] | None = None,
    forced_groups: dict[object, frozenset[str]] | None = None,
) -> tuple[Breakdown, Breakdown]:
    """A dimension and the coarser one its groups fall in (sessions in kinds, organisations in types),
    protected together: a group of the parent is the same people as the groups in it, so a count hidden in
    one table must not be shown in the other or worked out from it (disclosure.py, linked tables)."""
    groups, by_group = _grouped(dimension, facts)
    parent_groups, by_parent = _grouped(parent, facts)
    index = {key: i for i, (key, _) in enumerate(groups)}
    members = [sorted({index[f.keys[dimension.key]] for f in by_parent[parent_key]}) for parent_key, _ in parent_groups]
    parent_position = {key: j for j, (key, _) in enumerate(parent_groups)}
    table = protect(
        COUNT_COLUMNS,
        [(label, _sum(by_group[key])) for key, label in groups],
        overall,
        threshold=threshold,
        mode=mode,
        within=COUNT_PARTS,
        subtotals=[(label, group) for (_, label), group in zip(parent_groups, members, strict=True)],
        forced_total=forced_total,
        forced_subtotals={parent_position[k]: v for k, v in (forced_parent or {}).items() if k in parent_position},
        forced_rows={index[k]: v for k, v in (forced_groups or {}).items() if k in index},
    )
    parent_table = table.subtotal_table()
    return (
        Breakdown(dimension.key, dimension.title, table, _mean_changes(table, groups, by_group, facts, threshold)),
        Breakdown(
            parent.key,
            parent.title,
            parent_table,
            _mean_changes(parent_table, parent_groups, by_parent, facts, threshold),
        ),
    )


def _mean_changes(table: ProtectedTable, groups, by_group, facts, threshold: int) -> dict[str, float | None]:
    def changes_of(people: list[BookingFacts]) -> list[int]:
        return [f.confidence_change for f in people if f.confidence_change is not None]

    # A group's mean change is shown beside a shown paired count of at least the threshold. The overall mean
    # is shown too (here and in the paired section), so the groups whose mean is not shown must together hold
    # at least the threshold of people, or their mean could be worked out: hide more, smallest first.
    shown_means: dict[object, float] = {}
    for (key, _), row in zip(groups, table.rows, strict=True):
        figure, changes = table.figure(row, "paired"), changes_of(by_group[key])
        if figure.shown and (figure.value or 0) >= threshold and len(changes) == figure.value:
            shown_means[key] = round(stats_module.fmean(changes), 1)
    hidden_people = sum(len(changes_of(by_group[key])) for key, _ in groups if key not in shown_means)
    for key in sorted(shown_means, key=lambda k: len(changes_of(by_group[k]))):
        if hidden_people == 0 or hidden_people >= threshold:
            break
        del shown_means[key]
        hidden_people += len(changes_of(by_group[key]))
    mean_change: dict[str, float | None] = {
        row.label: shown_means.get(key) for (key, _), row in zip(groups, table.rows, strict=True)
    }
    if table.total is not None:
        everyone = changes_of(facts)
        paired = table.figure(table.total, "paired")
        shown = paired.shown and len(everyone) >= threshold and len(everyone) == paired.value
        mean_change[table.total.label] = round(stats_module.fmean(everyone), 1) if shown else None
    return mean_change


@dataclass(frozen=True)
class LinkedHidden:
    """Counts a filtered view hides because the whole pilot's tables hide them: the view's total, and each
    kind's row within it."""

    total: frozenset[str] = frozenset()
    kinds: dict[object, frozenset[str]] = field(default_factory=dict)
    sessions: dict[object, frozenset[str]] = field(default_factory=dict)  # each session's row, as it is there

    @property
    def any(self) -> bool:
        return bool(self.total) or any(self.kinds.values())


def linked_hidden(
    filters: ReviewFilters, facts: list[BookingFacts], now: datetime, mode: Mode, threshold: int
) -> LinkedHidden:
    """What a filtered view must hide because the whole pilot's tables hide it.

    On screen, a view filtered to sessions (one, a period, a kind) is the same people as those sessions' rows
    in the whole pilot's table by session: each session's row hides what it hides there, and each count of
    the view's total (and of each kind within it) is shown only if the table by session, beside it, still
    hides what it hides. What leaves the app has no table by session (the board report and the pack's tables
    stop at kinds, so any period can be reported): there a view of one kind is that kind's row. A view of one
    organisation is that organisation's row by organisation, in both. A view filtered on both (an organisation
    within a period) is no union of a published table's rows: it is protected on its own (the method note
    says so)."""
    if filters == ReviewFilters() or not facts:
        return LinkedHidden()
    by_sessions = filters.organisation_id is None
    only_organisation = filters == ReviewFilters(organisation_id=filters.organisation_id)
    only_kind = filters == ReviewFilters(kind=filters.kind)
    if not (by_sessions or only_organisation) or (mode is Mode.OUTPUT and by_sessions and not only_kind):
        return LinkedHidden()
    everyone = booking_facts(ReviewFilters(), now)
    overall = _sum(everyone)

    def hidden(flags: list[bool]) -> frozenset[str]:
        return frozenset(name for name, ok in zip(COUNT_COLUMNS, flags, strict=True) if not ok)

    def marked(row) -> frozenset[str]:
        return hidden([figure.shown for figure in row.figures])

    if mode is Mode.OUTPUT and filters.kind is not None:  # a view of one kind
        _, whole_kinds = linked_breakdowns(SESSION, KIND, everyone, mode, threshold, overall)
        row = next(r for r in whole_kinds.table.rows if r.label == filters.kind.label)
        return LinkedHidden(marked(row), {filters.kind: marked(row)})
    dimension, parent = (SESSION, KIND) if by_sessions else (ORGANISATION, ORGANISATION_TYPE)
    whole, _ = linked_breakdowns(dimension, parent, everyone, mode, threshold, overall)
    groups, _ = _grouped(dimension, everyone)
    index = {key: i for i, (key, _) in enumerate(groups)}
    in_view = sorted({f.keys[dimension.key] for f in facts}, key=index.__getitem__)
    unions = [[index[k] for k in in_view]]
    kinds: list[object] = []
    sessions: dict[object, frozenset[str]] = {}
    if by_sessions:
        kind_of = {f.keys[SESSION.key]: f.keys[KIND.key] for f in facts}
        kinds = list(dict.fromkeys(kind_of[k] for k in in_view))
        unions += [[index[k] for k in in_view if kind_of[k] == kind] for kind in kinds]
        sessions = {k: marked(whole.table.rows[index[k]]) for k in in_view}
    shown = whole.table.unions_shown(unions)
    return LinkedHidden(
        hidden(shown[0]), {kind: hidden(flags) for kind, flags in zip(kinds, shown[1:], strict=True)}, sessions
    )


# --- Paired before/after --------------------------------------------------------------------------------


def comparisons(instrument: Instrument | None = None) -> list[Comparison]:
    """Every paired comparison the instrument's versions make, each within one scale."""
    questions = instruments.all_questions(instrument or instruments.CURRENT)
    by_key = {(q.survey, q.key): q for q in questions}
    found = []
    for q in questions:
        if q.paired_with and (Survey.BASELINE, q.paired_with) in by_key:
            before = by_key[(Survey.BASELINE, q.paired_with)]
            if before.scale_key == q.scale_key:
                found.append(Comparison(q.key, _label(q), "registration", before, q))
        if q.retrospective_of and (q.survey, q.retrospective_of) in by_key:
            after = by_key[(q.survey, q.retrospective_of)]
            if after.scale_key == q.scale_key:
                found.append(Comparison(f"{after.key}_retrospective", _label(after), "retrospective", q, after))
    return found


def _label(question: Question) -> str:
    return question.concept.replace("_", " ").capitalize()


def paired_results(
    filters: ReviewFilters,
    now: datetime,
    mode: Mode,
    threshold: int,
    instrument: Instrument | None = None,
    *,
    hidden: bool = False,
) -> list[PairedResult]:
    """Before and after per person, for every comparison: one query each, one row per attended booking.
    `hidden`: the funnel hides the attended or paired count these add up to, so every count here is hidden."""
    results = []
    for comparison in comparisons(instrument):
        before = aliased(EvaluationAnswer)
        after = aliased(EvaluationAnswer)

        def answer_of(alias, question: Question):
            return sa.and_(
                alias.booking_id == Booking.id, alias.survey == question.survey, alias.question_key == question.key
            )

        query = (
            sa.select(before.value, after.value)
            .select_from(Booking)
            .outerjoin(before, answer_of(before, comparison.before))
            .outerjoin(after, answer_of(after, comparison.after))
            .where(Booking.status == BookingStatus.ATTENDED)
        )
        pairs, no_before, no_after = [], 0, 0
        for b, a in db.session.execute(_scoped(query, filters, now)):
            before_value, after_value = _number(b), _number(a)
            if before_value is None:
                no_before += 1
            elif after_value is None:
                no_after += 1
            else:
                pairs.append((before_value, after_value))
        change = paired_change(pairs)
        shares = protect(
            ["people"],
            [("Improved", [change.improved]), ("Unchanged", [change.unchanged]), ("Declined", [change.declined])],
            [change.n],
            threshold=threshold,
            mode=mode,
            total_label="Paired",
            forced_total=["people"] if hidden else (),
        )
        before_reason = "No baseline answer" if comparison.design == "registration" else "Not asked or not answered"
        not_paired = protect(
            ["people"],
            [(before_reason, [no_before]), ("No answer after the session", [no_after])],
            [no_before + no_after],
            threshold=threshold,
            mode=mode,
            total_label="Not paired",
            forced_total=["people"] if hidden else (),
        )
        paired_shown = shares.total is not None and shares.total.figures[0].shown and change.n >= threshold
        results.append(PairedResult(comparison, change if paired_shown else None, change.n, shares, not_paired))
    return results


# --- Answers to choice and number questions ---------------------------------------------------------------


def _keyed(questions: list[Question]):
    """A condition matching the answers to these questions (survey and key together)."""
    return sa.or_(
        *(sa.and_(EvaluationAnswer.survey == q.survey, EvaluationAnswer.question_key == q.key) for q in questions)
    )


def choice_distributions(
    filters: ReviewFilters, now: datetime, mode: Mode, threshold: int, questions: list[Question]
) -> list[Distribution]:
    """Counts per option for every choice question, in one grouped query. A question keeps one scale in
    every version (instrument.py), so answers given under different versions count together."""
    questions = [q for q in questions if q.type in CHOICE_TYPES]
    if not questions:
        return []
    answer = (EvaluationAnswer.survey, EvaluationAnswer.question_key, EvaluationAnswer.value)
    query = _answers(filters, now, *answer, sa.func.count()).where(_keyed(questions)).group_by(*answer)
    counts: dict[tuple, Counter] = {}
    people: Counter = Counter()
    for survey, key, value, count in db.session.execute(query):
        people[(survey, key)] += count
        for part in value.split(MULTIPLE_SEPARATOR) if value else []:
            counts.setdefault((survey, key), Counter())[part] += count
    results = []
    for q in questions:
        chosen = counts.get((q.survey, q.key), Counter())
        answered = people[(q.survey, q.key)]
        rows = [(o.label, [chosen.get(o.key, 0)]) for o in q.options]
        multiple = q.type is QuestionType.MULTIPLE
        # Multiple choice: the options do not add up to the people who answered, so there is no total.
        table = protect(["people"], rows, None if multiple else [answered], threshold=threshold, mode=mode)
        mean = None
        scored = [(o.score, chosen.get(o.key, 0)) for o in q.options if o.score is not None]
        scored_n = sum(c for _, c in scored)
        # With any count hidden, the mean (a sum of scores times counts) could help work it out.
        if not multiple and scored_n >= threshold and answered >= threshold and table.hidden_count == 0:
            mean = round(sum(s * c for s, c in scored) / scored_n, 1)
        results.append(Distribution(q, table, answered, mean))
    return results


def number_questions(
    filters: ReviewFilters, now: datetime, threshold: int, questions: list[Question]
) -> list[NumberStats]:
    """n, mean, median and total for every number question; the values come in one query."""
    questions = [q for q in questions if q.type is QuestionType.NUMBER]
    if not questions:
        return []
    answer = (EvaluationAnswer.survey, EvaluationAnswer.question_key, EvaluationAnswer.value)
    query = _answers(filters, now, *answer).where(_keyed(questions))
    values: dict[tuple, list[int]] = {}
    for survey, key, value in db.session.execute(query):
        number = _number(value)
        if number is not None:
            values.setdefault((survey, key), []).append(number)
    results = []
    for q in questions:
        found = number_statistics(q, values.get((q.survey, q.key), []))
        if found.n < threshold:
            found = NumberStats(q, 0, None, None, 0, suppressed=True)
        results.append(found)
    return results


def search_comments(
    filters: ReviewFilters, now: datetime, q: str, questions: list[Question]
) -> tuple[list[Comment], int]:
    """Free-text answers to every text question, newest first, without names; `q` matches case-insensitively."""
    questions = [x for x in questions if x.type is QuestionType.TEXT]
    if not questions:
        return [], 0
    by_key = {(x.survey, x.key): x for x in questions}
    answer = (EvaluationAnswer.survey, EvaluationAnswer.question_key, EvaluationAnswer.value)
    query = _answers(filters, now, *answer, TrainingSession.starts_at)
    query = query.where(_keyed(questions), sa.func.length(sa.func.trim(EvaluationAnswer.value)) > 0)
    if q:
        query = query.where(EvaluationAnswer.value.ilike(contains_pattern(q), escape=LIKE_ESCAPE))
    count = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    newest_first = query.order_by(EvaluationAnswer.answered_at.desc(), EvaluationAnswer.id.desc())
    rows = db.session.execute(newest_first.limit(MAX_COMMENTS))
    return [Comment(by_key[(s, k)], v, at) for s, k, v, at in rows], count


# --- Cascade ------------------------------------------------------------------------------------------------

CASCADE_COLUMNS = ("trained", "followed_up", "reported_running", "in_app_trainers", "running_any")


def cascade_review(
    filters: ReviewFilters, now: datetime, mode: Mode, threshold: int, by_kind: Breakdown | None = None
) -> CascadeReview:
    """The cascade, hidden whole when the funnel hides the train-the-trainer attendance it starts from (its
    "trained" is that same count, so showing it would undo the funnel's suppression)."""
    figures = cascade_module.cascade_figures(filters, now=now)
    counts = [getattr(figures, name) for name in CASCADE_COLUMNS]
    table = protect(
        CASCADE_COLUMNS,
        [("Trained as MECC trainers", counts)],
        None,
        threshold=threshold,
        mode=mode,
        within={"reported_running": "followed_up"},
    )
    # People reached are people too (and may outnumber the trainers, so they are a table of their own).
    reached = protect(
        ["people"],
        [("Reported at follow-up", [figures.reported_people]), ("Attended in this app", [figures.in_app_people])],
        None,
        threshold=threshold,
        mode=mode,
    )
    withheld = not _kind_figure_shown(by_kind, SessionKind.TRAIN_THE_TRAINER, "attended")
    shown = table.rows[0].figures[0].shown and not withheld
    return CascadeReview(table, reached, figures, shown=shown, withheld=withheld)


def _kind_figure_shown(by_kind: Breakdown | None, kind: SessionKind, column: str) -> bool:
    if by_kind is None:
        return True
    row = next((r for r in by_kind.table.rows if r.label == kind.label), None)
    return row is not None and by_kind.table.figure(row, column).shown


# --- The whole review -----------------------------------------------------------------------------------------


def upcoming_registrations(filters: ReviewFilters, now: datetime, mode: Mode, threshold: int) -> ProtectedTable:
    query = _scoped(sa.select(sa.func.count(Booking.id)).select_from(Booking), filters, now, held_only=False)
    count = db.session.scalar(query.where(TrainingSession.ends_at > now, TrainingSession.cancelled_at.is_(None)))
    return protect(["registered"], [("Sessions still to come", [count or 0])], None, threshold=threshold, mode=mode)


def build_review(
    filters: ReviewFilters,
    *,
    q: str = "",
    instrument: Instrument | None = None,
    mode: Mode = Mode.SCREEN,
    now: datetime | None = None,
) -> Review:
    now = now or utcnow()
    threshold = settings.current().disclosure_threshold
    questions = instruments.all_questions(instrument or instruments.CURRENT)
    facts = booking_facts(filters, now)
    overall = _sum(facts)
    linked = linked_hidden(filters, facts, now, mode, threshold)
    forced = sorted(linked.total)
    by_session, by_kind = linked_breakdowns(
        SESSION,
        KIND,
        facts,
        mode,
        threshold,
        overall,
        forced_total=forced,
        forced_parent=linked.kinds,
        forced_groups=linked.sessions,
    )
    by_organisation, by_type = linked_breakdowns(
        ORGANISATION, ORGANISATION_TYPE, facts, mode, threshold, overall, forced_total=forced
    )
    tables = {SESSION.key: by_session, ORGANISATION.key: by_organisation, ORGANISATION_TYPE.key: by_type}
    for d in DIMENSIONS:
        if d.key not in tables:
            tables[d.key] = breakdown(d, facts, mode, threshold, overall, forced_total=forced)
    # The paired section's counts add up to the funnel's attended and paired: hidden where those are.
    total = by_kind.table.total
    pairs_hidden = total is None or not all(by_kind.table.figure(total, c).shown for c in ("attended", "paired"))

    distributions = {
        Survey.AFTER_SESSION.value: choice_distributions(
            filters, now, mode, threshold, [q_ for q_ in questions if q_.survey is Survey.AFTER_SESSION]
        )
    }
    followup_questions = [q_ for q_ in questions if q_.survey is Survey.FOLLOWUP and q_.only_for is None]
    followup = {}
    for kind in SessionKind:
        kind_filters = dataclasses.replace(filters, kind=kind) if filters.kind in (None, kind) else None
        # Shown only where the funnel shows that kind's followed-up count (the same people), so a total less
        # the other kind never gives a hidden count away.
        if kind_filters is None or not _kind_figure_shown(by_kind, kind, "followed_up"):
            continue
        followup[kind] = (
            choice_distributions(kind_filters, now, mode, threshold, followup_questions),
            number_questions(kind_filters, now, threshold, followup_questions),
        )
    # Comments are shown only when at least the threshold of people could have written them.
    evaluated = by_kind.table.total.figures[COUNT_COLUMNS.index("evaluated")] if by_kind.table.total else None
    comments_hidden = evaluated is None or not evaluated.shown or (evaluated.value or 0) < threshold
    comments, comment_count = ([], 0) if comments_hidden else search_comments(filters, now, q, questions)
    return Review(
        now=now,
        filters=filters,
        mode=mode,
        threshold=threshold,
        upcoming=upcoming_registrations(filters, now, mode, threshold),
        by_kind=by_kind,
        breakdowns=[tables[d.key] for d in BREAKDOWNS],
        inequalities=[tables[d.key] for d in INEQUALITIES],
        paired=paired_results(filters, now, mode, threshold, instrument, hidden=pairs_hidden),
        distributions=distributions,
        followup=followup,
        cascade=cascade_review(filters, now, mode, threshold, by_kind),
        comments=comments,
        comment_count=comment_count,
        comments_hidden=comments_hidden,
        text_questions=[x for x in questions if x.type is QuestionType.TEXT],
    )
